/**
 * What `npm pack` would publish (package.json `files`): the CPU kernels' references
 * (src/tensor/cpu/kernels/<op>/reference.ts and their builds) stay out of the package, since
 * only tests and benchmarks use them, while the shipped kernels and the kernels README are in
 * (src/tensor/kernels-README.md states the convention).
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
    expect(files.filter((f) => /tensor\/cpu\/kernels\/[^/]+\/reference\./.test(f))).toEqual([]);
    for (const op of refs) {
      expect(files.some((f) => f.startsWith(`src/tensor/cpu/kernels/${op}/`) && !f.includes('reference'))).toBe(true);
    }
    expect(files).toContain('src/tensor/kernels-README.md');
    expect(files).toContain('dist/tensor/cpu/kernels/matmul/wasm.js');
  });
});
