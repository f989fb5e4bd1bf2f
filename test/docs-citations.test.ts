/**
 * The repository stands alone: its code and docs cite docs/paper.md for the mathematics and
 * files inside the repository for everything else.
 *   (a) no file under src/, docs/, test/, bench/, scripts/ or README.md names a document that
 *       lives outside the repository (the forbidden names are assembled below, so this file does
 *       not match itself);
 *   (b) every `docs/paper.md §N` or `§N.M` citation names a heading of docs/paper.md ("## N." or
 *       "### N.M"), and every "§6 pitfall K" names an item of its pitfall list;
 *   (c) every relative markdown link in docs/ and README.md points to a file that exists.
 * Every failure names the offending file:line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SCANNED_DIRS = ['src', 'docs', 'test', 'bench', 'scripts'];
const SCANNED_FILES = ['README.md'];
const TEXT = /\.(ts|mts|cts|js|mjs|cjs|md|sh|json|jsonl|svg|html|css|txt|ya?ml)$/;


function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' ? [] : walk(p);
    return TEXT.test(f) ? [p] : [];
  });
}

interface Source { file: string; lines: string[] }

function sources(): Source[] {
  const paths = [...SCANNED_DIRS.flatMap((d) => walk(join(ROOT, d))), ...SCANNED_FILES.map((f) => join(ROOT, f))];
  return paths.map((p) => ({ file: relative(ROOT, p).split('\\').join('/'), lines: readFileSync(p, 'utf8').split('\n') }));
}

/** Section ids of docs/paper.md ("3", "2.1") and the item numbers of its pitfall list. */
export function paperOutline(text: string): { sections: Set<string>; pitfalls: Set<number> } {
  const sections = new Set<string>();
  const pitfalls = new Set<number>();
  let inPitfalls = false;
  for (const line of text.split('\n')) {
    const top = /^##\s+(\d+)\.\s/.exec(line);
    const sub = /^###\s+(\d+\.\d+)\s/.exec(line);
    if (top) sections.add(top[1]!);
    if (sub) sections.add(sub[1]!);
    if (/^#{2,}\s/.test(line)) inPitfalls = /^###\s+Pitfalls\b/.test(line);
    const item = inPitfalls ? /^(\d+)\.\s/.exec(line) : null;
    if (item) pitfalls.add(Number(item[1]));
  }
  return { sections, pitfalls };
}

/**
 * The sections a line cites: `docs/paper.md` (or a markdown link to paper.md) followed by a
 * chain of §refs such as "§3", "§3, §2.1", "§3/§4", "§1–§3"; and the pitfall numbers of
 * "§6 pitfall K" in such a chain.
 */
export function citations(line: string): { sections: string[]; pitfalls: number[] } {
  const sections: string[] = [];
  const pitfalls: number[] = [];
  const re = /(?:docs\/)?paper\.md(?:\]\([^)\s]*\))?((?:\s*(?:,|\/|;|–|-|and|or)?\s*§\d+(?:\.\d+)?(?:\s+pitfalls?\s+\d+)?)+)/g;
  for (const m of line.matchAll(re)) {
    for (const s of m[1]!.matchAll(/§(\d+(?:\.\d+)?)(?:\s+pitfalls?\s+(\d+))?/g)) {
      sections.push(s[1]!);
      if (s[2] !== undefined) pitfalls.push(Number(s[2]));
    }
  }
  return { sections, pitfalls };
}

/** Relative link targets of the markdown links on a line (fenced code is skipped by the caller). */
export function relativeLinks(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.replace(/[#?].*$/, ''));
  }
  return out;
}

describe('docs citations', () => {
  const all = sources();
  const checked = all;

  it('(a) nothing names a document outside the repository', () => {
    const forbidden = ['PAPER', 'DESIGN'].map((n) => `${n}.md`).concat(['..', 'shared'].join('/'));
    const offenders: string[] = [];
    for (const { file, lines } of checked) {
      lines.forEach((line, i) => {
        for (const f of forbidden) if (line.includes(f)) offenders.push(`${file}:${i + 1}: names ${f}: ${line.trim()}`);
      });
    }
    expect(offenders, 'these lines name a file outside the repository; cite a file inside it').toEqual([]);
  });

  it('(b) every docs/paper.md §N citation names a heading of docs/paper.md', () => {
    const { sections, pitfalls } = paperOutline(readFileSync(join(ROOT, 'docs/paper.md'), 'utf8'));
    expect(sections.size, 'docs/paper.md has numbered headings').toBeGreaterThan(9);
    expect([...pitfalls].sort((a, b) => a - b), 'docs/paper.md §6 lists pitfalls 1–10').toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const offenders: string[] = [];
    let count = 0;
    for (const { file, lines } of checked) {
      lines.forEach((line, i) => {
        const c = citations(line);
        count += c.sections.length;
        for (const s of c.sections) if (!sections.has(s)) offenders.push(`${file}:${i + 1}: §${s} is not a heading of docs/paper.md: ${line.trim()}`);
        for (const p of c.pitfalls) if (!pitfalls.has(p)) offenders.push(`${file}:${i + 1}: pitfall ${p} is not in docs/paper.md §6: ${line.trim()}`);
      });
    }
    expect(offenders, 'citations of sections that docs/paper.md does not have').toEqual([]);
    expect(count, 'the scan found the citations (the pattern still matches)').toBeGreaterThan(50);
  });

  it('(c) every relative markdown link in docs/ and README.md points to a file that exists', () => {
    const offenders: string[] = [];
    for (const { file, lines } of all.filter((s) => s.file.endsWith('.md'))) {
      let fenced = false;
      lines.forEach((line, i) => {
        if (/^\s*```/.test(line)) fenced = !fenced;
        if (fenced) return;
        for (const target of relativeLinks(line)) {
          if (target === '') continue;
          const abs = resolve(ROOT, dirname(file), target);
          const rel = relative(ROOT, abs).split('\\').join('/').replace(/\/$/, '');
          if (!existsSync(abs)) offenders.push(`${file}:${i + 1}: link to ${target} (${rel}) does not exist`);
        }
      });
    }
    expect(offenders, 'broken relative links').toEqual([]);
  });

  it('the helpers parse what the repository writes', () => {
    expect(citations('see docs/paper.md §3, §2.1 and docs/paper.md §6 pitfall 5')).toEqual({ sections: ['3', '2.1', '6'], pitfalls: [5] });
    expect(citations('[docs/paper.md](paper.md) §1–§3').sections).toEqual(['1', '3']);
    expect(citations('the paper §4.1, Eq. (7)').sections).toEqual([]);
    expect(relativeLinks('[a](../src/x.ts) [b](https://arxiv.org/abs/1) [c](#top) `[d](nope.md)`')).toEqual(['../src/x.ts']);
    const o = paperOutline('## 1. A\n### 1.1 B\n### Pitfalls\n1. **x**\n2. **y**\n## 2. C\n3. z\n');
    expect([...o.sections]).toEqual(['1', '1.1', '2']);
    expect([...o.pitfalls]).toEqual([1, 2]);
  });
});
