/**
 * The module structure of README.md, "Layout", checked on the sources:
 *  - imports only go downward (rl > moe > nn > autograd > tensor): no folder imports from a
 *    folder above it;
 *  - nothing outside src/tensor reaches a concrete backend: no cast to CpuBackend or
 *    WebGpuBackend (or their storages), no `cpuBackend.` member use, no import of
 *    src/tensor/cpu/* or src/tensor/webgpu/* (fused kernels are Backend.routines, reached
 *    through tryRoutine);
 *  - no import cycle anywhere in src (cli included), runtime and type-only imports alike.
 * The checks are plain functions of in-memory sources, so the self-tests at the end can feed
 * them a planted upward import and a planted cycle and see both reported.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../src');
const ORDER = ['tensor', 'autograd', 'nn', 'moe', 'rl'];

export interface Source {
  file: string;
  text: string;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function readSources(): Source[] {
  return files(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
}

/** Every module specifier a source names: import and export ... from, import type, import(), bare import. */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((r) => r.fileName);
}

function layerOf(file: string): string | null {
  const top = relative(SRC, file).split(/[\\/]/)[0]!;
  return ORDER.includes(top) ? top : null;
}

export function violations(sources: Source[]): string[] {
  const out: string[] = [];
  for (const { file, text } of sources) {
    const from = layerOf(file);
    if (from === null) continue;
    for (const spec of specifiers(text)) {
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

/** The concrete backend classes a module above src/tensor must never name in a cast. */
const CONCRETE = /\b(CpuBackend|WebGpuBackend|CpuStorage|WebGpuStorage)\b/;

/** Casts to a concrete backend, `cpuBackend.` uses and imports of backend internals, outside src/tensor. */
export function backendLeaks(sources: Source[]): string[] {
  const out: string[] = [];
  for (const { file, text } of sources) {
    const rel = relative(SRC, file);
    if (rel.startsWith(`tensor${sep}`) || rel.startsWith('tensor/')) continue;
    for (const spec of specifiers(text)) {
      if (!spec.startsWith('.')) continue;
      const to = relative(SRC, resolve(dirname(file), spec)).split(/[\\/]/);
      if (to[0] === 'tensor' && (to[1] === 'cpu' || to[1] === 'webgpu')) {
        out.push(`${rel} imports ${spec}, a concrete backend's internals (use what src/tensor/index.ts exports)`);
      }
    }
    const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
    const at = (n: ts.Node) => `${rel}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    const visit = (n: ts.Node): void => {
      if ((ts.isAsExpression(n) || ts.isTypeAssertionExpression(n)) && CONCRETE.test(n.type.getText(sf))) {
        out.push(`${at(n)} casts to ${n.type.getText(sf)} (reach fused kernels through tryRoutine)`);
      } else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'cpuBackend') {
        out.push(`${at(n)} uses cpuBackend.${n.name.text} (reach fused kernels through tryRoutine)`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** file (relative to src) → the src files it imports (relative, .ts), for relative specifiers. */
export function importGraph(sources: Source[]): Map<string, string[]> {
  const known = new Set(sources.map((s) => relative(SRC, s.file)));
  const g = new Map<string, string[]>();
  for (const { file, text } of sources) {
    const deps = new Set<string>();
    for (const spec of specifiers(text)) {
      if (!spec.startsWith('.')) continue;
      const base = relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '');
      const hit = [`${base}.ts`, `${base}/index.ts`, base].find((c) => known.has(c));
      if (hit !== undefined) deps.add(hit);
    }
    g.set(relative(SRC, file), [...deps].sort());
  }
  return g;
}

/** Strongly connected components with a cycle in them (more than one file, or a self-import). */
function cyclicComponents(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (g.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** Elementary cycles found per component before the rest are summarised (a dense tangle is reported, not enumerated). */
const MAX_CYCLES = 200;

/**
 * Every elementary import cycle, as 'a.ts → b.ts → a.ts' starting from its alphabetically first
 * file (so each cycle has one spelling), sorted.
 */
export function importCycles(g: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const comp of cyclicComponents(g)) {
    const inComp = new Set(comp);
    const found: string[] = [];
    for (const start of comp) {
      const path = [start];
      const onPath = new Set(path);
      const walk = (v: string): void => {
        for (const w of g.get(v) ?? []) {
          if (found.length >= MAX_CYCLES) return;
          if (!inComp.has(w) || w < start) continue;
          if (w === start) found.push([...path, start].join(' → '));
          else if (!onPath.has(w)) {
            path.push(w);
            onPath.add(w);
            walk(w);
            onPath.delete(w);
            path.pop();
          }
        }
      };
      walk(start);
    }
    out.push(...found);
    if (found.length >= MAX_CYCLES) out.push(`(more cycles among ${comp.join(', ')})`);
  }
  return out.sort();
}

describe('module structure', () => {
  const sources = readSources();

  it('no folder imports from a folder above it', () => {
    expect(sources.length).toBeGreaterThan(10);
    expect(violations(sources)).toEqual([]);
  });

  it('nothing outside src/tensor casts to a concrete backend, uses cpuBackend. or imports backend internals', () => {
    expect(backendLeaks(sources)).toEqual([]);
  });

  it('no import cycle anywhere in src (runtime and type-only imports alike)', () => {
    expect(importCycles(importGraph(sources))).toEqual([]);
  });
});

describe('the structure checks catch what they forbid', () => {
  it('a planted upward import', () => {
    const fake = [
      { file: join(SRC, 'tensor/x.ts'), text: "import { grad } from '../autograd/grad.js';" },
      { file: join(SRC, 'autograd/y.ts'), text: "export { Tensor } from '../tensor/tensor.js';" },
      { file: join(SRC, 'nn/z.ts'), text: "import type { MoELayer } from '../moe/layer.js';\nconst m = await import('../rl/index.js');" },
    ];
    expect(violations(fake)).toEqual([
      'tensor/x.ts (tensor) imports ../autograd/grad.js (autograd), a layer above it',
      'nn/z.ts (nn) imports ../moe/layer.js (moe), a layer above it',
      'nn/z.ts (nn) imports ../rl/index.js (rl), a layer above it',
    ]);
  });

  it('a planted cast to a concrete backend, cpuBackend. use and import of backend internals', () => {
    const fake = [
      { file: join(SRC, 'nn/x.ts'), text: "import type { WebGpuBackend } from '../tensor/webgpu/index.js';\nconst y = (x.backend as WebGpuBackend).rmsNorm(a);" },
      { file: join(SRC, 'autograd/y.ts'), text: "import { cpuBackend } from '../tensor/index.js';\n// cpuBackend.siluGrad in a comment is fine\nconst s = cpuBackend.siluGrad(a, b);" },
      { file: join(SRC, 'moe/z.ts'), text: "import { groupChunks } from '../tensor/webgpu/kernels/group.js';\nconst p = <CpuBackend>b;" },
      { file: join(SRC, 'tensor/w.ts'), text: "import { CpuBackend } from './cpu/backend.js';\nconst c = b as CpuBackend;" },
    ];
    expect(backendLeaks(fake)).toEqual([
      "nn/x.ts imports ../tensor/webgpu/index.js, a concrete backend's internals (use what src/tensor/index.ts exports)",
      'nn/x.ts:2 casts to WebGpuBackend (reach fused kernels through tryRoutine)',
      'autograd/y.ts:3 uses cpuBackend.siluGrad (reach fused kernels through tryRoutine)',
      "moe/z.ts imports ../tensor/webgpu/kernels/group.js, a concrete backend's internals (use what src/tensor/index.ts exports)",
      'moe/z.ts:2 casts to CpuBackend (reach fused kernels through tryRoutine)',
    ]);
  });

  it('a planted cycle, with its path (type-only imports count)', () => {
    const fake = [
      { file: join(SRC, 'nn/a.ts'), text: "import { b } from './b.js';\nexport const a = 1;" },
      { file: join(SRC, 'nn/b.ts'), text: "import type { C } from './sub/c.js';\nexport const b = 2;" },
      { file: join(SRC, 'nn/sub/c.ts'), text: "export { a } from '../a.js';\nexport type C = number;" },
      { file: join(SRC, 'nn/d.ts'), text: "import { a } from './a.js';\nimport './d.js';" },
      { file: join(SRC, 'nn/e.ts'), text: "import { a } from './a.js';" },
    ];
    expect(importCycles(importGraph(fake))).toEqual([
      'nn/a.ts → nn/b.ts → nn/sub/c.ts → nn/a.ts',
      'nn/d.ts → nn/d.ts',
    ]);
  });
});
