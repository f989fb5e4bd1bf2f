/**
 * The README example must run as written: this test extracts the ```js block from README.md,
 * runs it against the built package (as a user would after `npm install`), and checks the
 * values it prints.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

describe('README', () => {
  it('every js example runs as written', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const code of blocks) {
      const dir = mkdtempSync(join(ROOT, '.readme-example-'));
      try {
        writeFileSync(join(dir, 'example.mjs'), code);
        const out = execFileSync(process.execPath, [join(dir, 'example.mjs')], { cwd: ROOT, encoding: 'utf8' });
        expect(out.trim().length).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('shows the install and test commands', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/npm install/);
    expect(readme).toMatch(/npm test/);
  });

  it('the example runs as written and prints the values its comments state', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    expect(existsSync(join(ROOT, 'dist/index.js'))).toBe(true);
    // Run it from inside the repository so `import 'stablerl'` resolves as a package self-reference.
    const dir = mkdtempSync(join(ROOT, '.readme-example-'));
    let out: string;
    try {
      const file = join(dir, 'example.mjs');
      writeFileSync(file, code!);
      out = execFileSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(Number(lines[0]!.split(/\s+/)[1])).toBeCloseTo(4.96, 5);
    const dw = lines[1]!.replace(/Float32Array\(\d+\)/, '').match(/-?\d+(\.\d+)?/g)!.map(Number);
    expect(dw[0]).toBeCloseTo(-15.2, 4);
    expect(dw[1]).toBeCloseTo(-19.2, 4);
    expect(Number(lines[2]!.replace(/Float32Array\(\d+\)/, '').match(/-?\d+(\.\d+)?/g)![0])).toBeCloseTo(-4, 5);
  });
});
