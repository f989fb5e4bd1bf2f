/**
 * The layer order of README.md, "Layout": imports only go downward. This test reads every source
 * file and fails if a folder imports from a folder above it (rl > moe > nn > autograd > tensor).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../src');
const ORDER = ['tensor', 'autograd', 'nn', 'moe', 'rl'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): string | null {
  const top = relative(SRC, file).split(/[\\/]/)[0]!;
  return ORDER.includes(top) ? top : null;
}

export function violations(sources: { file: string; text: string }[]): string[] {
  const out: string[] = [];
  for (const { file, text } of sources) {
    const from = layerOf(file);
    if (from === null) continue;
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]|import\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      const to = layerOf(resolve(dirname(file), spec));
      if (to === null) {
        out.push(`${relative(SRC, file)} imports ${spec}, outside the layer folders`);
      } else if (ORDER.indexOf(to) > ORDER.indexOf(from)) {
        out.push(`${relative(SRC, file)} (${from}) imports ${spec} (${to}), a layer above it`);
      }
    }
  }
  return out;
}

describe('layer order', () => {
  it('no folder imports from a folder above it', () => {
    const sources = files(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    expect(sources.length).toBeGreaterThan(10);
    expect(violations(sources)).toEqual([]);
  });

  it('the checker catches an upward import', () => {
    const fake = [
      { file: join(SRC, 'tensor/x.ts'), text: "import { grad } from '../autograd/grad.js';" },
      { file: join(SRC, 'autograd/y.ts'), text: "export { Tensor } from '../tensor/tensor.js';" },
    ];
    expect(violations(fake)).toEqual(['tensor/x.ts (tensor) imports ../autograd/grad.js (autograd), a layer above it']);
  });
});
