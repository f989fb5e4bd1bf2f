/**
 * What `npm pack` would publish (package.json `files`): the kernels' references
 * (src/tensor/<backend>/kernels/<op>/reference.ts and their builds) stay out of the package,
 * since only tests and benchmarks use them, while the shipped kernels, the versions a flag can
 * still select (v1.ts) and src/tensor/KERNELS.md (which states the convention) are in.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const CPU_KERNELS = join(ROOT, 'src/tensor/cpu/kernels');

describe('published files', () => {
  it('leave out the CPU references and keep the shipped kernels', () => {
    const refs = readdirSync(CPU_KERNELS).filter((d) => existsSync(join(CPU_KERNELS, d, 'reference.ts')));
    expect(refs.sort()).toEqual(['elementwise', 'indexing', 'matmul', 'reduce']);
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
    expect(files.filter((f) => /(^|\/)reference\.[^/]*$/.test(f))).toEqual([]);
    for (const op of refs) {
      expect(files.some((f) => f.startsWith(`src/tensor/cpu/kernels/${op}/`) && !f.includes('reference'))).toBe(true);
    }
    expect(files).toContain('src/tensor/KERNELS.md');
    expect(files).toContain('dist/tensor/webgpu/kernels/elementwise/v1.js');
    expect(files).toContain('dist/tensor/cpu/kernels/matmul/wasm.js');
  });
});
