/**
 * Run-directory writers (src/rl/report): the SVG line chart is well-formed standalone SVG,
 * deterministic, with nice linear ticks and decade log ticks, escaped text and skipped
 * unplottable points; MetricsLog round-trips records, writes non-finite numbers as null listed in
 * `nonFinite`, tolerates (and reports) a truncated last line and rejects a corrupt middle line
 * with a typed error naming the line; writeRunPlots writes the four plots.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StablerlError } from '../../src/index.js';
import {
  MetricsError, MetricsLog, PLOT_FILES, lineChart, logTicks, niceLinearTicks, parseMetrics, readMetrics,
  readMetricsDetailed, writeRunPlots, type LineChartSpec, type TruncatedLine,
} from '../../src/rl/report/index.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'stablerl-report-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A tiny XML well-formedness check: balanced tags, quoted attributes, only known entities. */
function checkWellFormed(xml: string): void {
  const stack: string[] = [];
  const tagRe = /<[^<>]*>/g;
  let last = 0;
  let roots = 0;
  const checkEntities = (text: string, at: number): void => {
    const amps = text.match(/&[^;\s]*;?/g) ?? [];
    for (const a of amps) if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(a)) throw new Error(`bad entity ${a} at ${at}`);
  };
  const checkText = (text: string, at: number): void => {
    if (/[<>]/.test(text)) throw new Error(`stray < or > in text at ${at}: ${text}`);
    checkEntities(text, at);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root at ${at}`);
  };
  for (const m of xml.matchAll(tagRe)) {
    checkText(xml.slice(last, m.index), last);
    last = m.index! + m[0].length;
    const tag = m[0];
    const close = /^<\/([A-Za-z][\w:-]*)\s*>$/.exec(tag);
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) throw new Error(`</${close[1]}> closes <${open}>`);
      continue;
    }
    const open = /^<([A-Za-z][\w:-]*)((?:\s+[A-Za-z][\w:-]*="[^"]*")*)\s*(\/?)>$/.exec(tag);
    if (!open) throw new Error(`malformed tag: ${tag}`);
    checkEntities(open[2]!, m.index!);
    const names = [...open[2]!.matchAll(/([A-Za-z][\w:-]*)=/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) throw new Error(`duplicate attribute in ${tag}`);
    if (stack.length === 0) roots++;
    if (open[3] !== '/') stack.push(open[1]!);
  }
  checkText(xml.slice(last), last);
  if (stack.length !== 0) throw new Error(`unclosed: ${stack.join(' ')}`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

const spec = (over: Partial<LineChartSpec> = {}): LineChartSpec => ({
  title: 'Reward',
  xLabel: 'step',
  yLabel: 'reward',
  yScale: 'linear',
  series: [
    { name: 'train', points: Array.from({ length: 50 }, (_, i) => [i, 1 - Math.exp(-i / 10)] as [number, number]) },
    { name: 'eval', points: [[0, 0.1], [10, 0.4], [20, 0.7], [30, 0.8], [40, 0.85]] },
  ],
  ...over,
});

/** The y tick labels (right-aligned text group) of a chart. */
const yLabels = (svg: string): string[] => {
  const g = /<g text-anchor="end">\n([\s\S]*?)\n<\/g>/.exec(svg);
  return g ? [...g[1]!.matchAll(/>([^<]*)<\/text>/g)].map((m) => m[1]!) : [];
};

describe('lineChart', () => {
  it('is a well-formed standalone SVG document', () => {
    for (const s of [spec(), spec({ yScale: 'log' }), spec({ series: [] }), spec({ series: [{ name: 'x', points: [[1, 2]] }] })]) {
      const svg = lineChart(s);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
      expect(svg).toContain('version="1.1"');
      checkWellFormed(svg);
    }
    expect(() => checkWellFormed('<svg><g></svg>')).toThrow(); // the checker itself bites
    expect(() => checkWellFormed('<svg>a < b</svg>')).toThrow();
    expect(() => checkWellFormed('<svg>a & b</svg>')).toThrow();
  });

  it('is deterministic: same input, same bytes', () => {
    expect(lineChart(spec())).toBe(lineChart(spec()));
    expect(lineChart(spec({ yScale: 'log' }))).toBe(lineChart(spec({ yScale: 'log' })));
    // Coordinates are written with fixed precision.
    const coords = [...lineChart(spec()).matchAll(/(?:cx|cy|x1|y1)="([^"]*)"/g)].map((m) => m[1]!);
    for (const c of coords) expect(c).toMatch(/^-?\d+(\.\d\d)?$/);
  });

  it('escapes <&> and quotes in titles, labels and series names', () => {
    const svg = lineChart(spec({ title: 'a<b & c>d "q"', xLabel: 'x<1', series: [{ name: 'k1 & k3', points: [[0, 1], [1, 2]] }] }));
    checkWellFormed(svg);
    expect(svg).toContain('a&lt;b &amp; c&gt;d &quot;q&quot;');
    expect(svg).toContain('x&lt;1');
    expect(svg).toContain('k1 &amp; k3');
    expect(svg).not.toContain('a<b');
  });

  it('nice linear ticks (hand-checked)', () => {
    expect(niceLinearTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceLinearTicks(0, 1).labels).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(niceLinearTicks(0, 97).ticks).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceLinearTicks(-3, 7).ticks).toEqual([-4, -2, 0, 2, 4, 6, 8]);
    expect(niceLinearTicks(0.013, 0.048).ticks).toEqual([0.01, 0.02, 0.03, 0.04, 0.05]);
    expect(niceLinearTicks(0.013, 0.048).labels).toEqual(['0.01', '0.02', '0.03', '0.04', '0.05']);
    expect(niceLinearTicks(1, 499, 6).ticks).toEqual([0, 100, 200, 300, 400, 500]);
    // Degenerate range: widened, still nice, still covering the value.
    const d = niceLinearTicks(5, 5);
    expect(d.min).toBeLessThan(5);
    expect(d.max).toBeGreaterThan(5);
    expect(niceLinearTicks(0, 0).ticks).toEqual([-1, -0.5, 0, 0.5, 1]);
    // Every step is 1, 2 or 5 × 10^k and the ticks cover the range.
    for (const [lo, hi] of [[0.3, 0.71], [-1234, 98765], [1e-7, 3e-7], [2.5, 2.50001]] as const) {
      const t = niceLinearTicks(lo, hi);
      const step = t.ticks[1]! - t.ticks[0]!;
      const m = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
      expect([1, 2, 5, 10].some((n) => Math.abs(m - n) < 1e-6)).toBe(true);
      expect(t.min).toBeLessThanOrEqual(lo);
      expect(t.max).toBeGreaterThanOrEqual(hi);
      expect(new Set(t.labels).size).toBe(t.labels.length); // labels tell ticks apart
    }
  });

  it('log axis ticks are powers of ten', () => {
    const t = logTicks(1e-6, 1e-2);
    expect(t.ticks).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2]);
    expect(t.labels).toEqual(['1e-6', '1e-5', '1e-4', '1e-3', '1e-2']);
    expect(logTicks(3e-5, 2e-3).ticks).toEqual([1e-5, 1e-4, 1e-3, 1e-2]);
    expect(logTicks(0.002, 0.5).labels).toEqual(['0.001', '0.01', '0.1', '1']);
    expect(logTicks(4, 4).ticks).toEqual([1, 10]);
    const svg = lineChart({
      title: 'KL', xLabel: 'step', yLabel: 'kl', yScale: 'log',
      series: [{ name: 'k3', points: [[0, 1e-6], [1, 3e-4], [2, 1e-2]] }],
    });
    expect(yLabels(svg)).toEqual(['1e-6', '1e-5', '1e-4', '1e-3', '1e-2']);
  });

  it('skips NaN/Infinity, and non-positive values on a log axis, with a note', () => {
    const series = [{ name: 'k1', points: [[0, 1e-3], [1, NaN], [2, -1e-4], [3, 0], [4, Infinity], [5, 2e-3], [6, 1e-2]] as [number, number][] }];
    const lin = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', yScale: 'linear', series });
    checkWellFormed(lin);
    expect(lin).toContain('skipped: 2 non-finite');
    expect(lin).not.toContain('(log axis)');
    expect(lin).not.toMatch(/NaN|Infinity/);
    const log = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', yScale: 'log', series });
    checkWellFormed(log);
    expect(log).toContain('skipped: 2 non-finite');
    expect(log).toContain('skipped: 2 ≤ 0 (log axis)');
    expect(log).not.toMatch(/NaN|Infinity/);
    expect(yLabels(log)).toEqual(['0.001', '0.01']); // the axis comes from the kept points only
    // The line breaks at skipped points: [0] alone (a marker), then [5, 6] as one polyline.
    expect(log.match(/<polyline /g)?.length).toBe(1);
    // A clean chart has no note.
    expect(lineChart(spec())).not.toContain('skipped');
  });

  it('draws a "no data" chart for empty or all-skipped series', () => {
    for (const s of [
      spec({ series: [] }),
      spec({ series: [{ name: 'a', points: [] }] }),
      spec({ yScale: 'log', series: [{ name: 'a', points: [[0, -1], [1, NaN]] }] }),
    ]) {
      const svg = lineChart(s);
      checkWellFormed(svg);
      expect(svg).toContain('no data');
      expect(svg).not.toContain('<polyline');
    }
    expect(lineChart(spec())).not.toContain('no data');
  });

  it('renders to PNG with ImageMagick or rsvg-convert when one is installed', () => {
    const dir = tmp();
    const svgPath = join(dir, 'kl.svg');
    writeFileSync(svgPath, lineChart(spec({ yScale: 'log', title: 'KL <log>' })));
    const png = join(dir, 'kl.png');
    for (const [cmd, args] of [['rsvg-convert', ['-o', png, svgPath]], ['convert', [svgPath, png]]] as const) {
      try {
        execFileSync(cmd, [...args], { stdio: 'ignore', timeout: 8000 });
      } catch {
        continue; // converter missing or failing: the check is optional
      }
      if (existsSync(png)) {
        expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
        return;
      }
    }
  });
});

describe('MetricsLog / readMetrics', () => {
  it('round-trips records, one JSON object per line, appending across reopen', () => {
    const dir = tmp();
    const recs = [
      { step: 0, reward: 0.25, entropy: 1.5, tag: 'a', nested: { x: 1, y: [1, 2] } },
      { step: 1, reward: 0.5, evalAccuracy: 0.4, ok: true, none: null },
    ];
    const log = MetricsLog.inRunDir(join(dir, 'run'), { fsync: true });
    log.append(recs[0]!);
    log.close();
    const log2 = MetricsLog.inRunDir(join(dir, 'run'));
    log2.append(recs[1]!);
    log2.close();
    const path = join(dir, 'run', 'metrics.jsonl');
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')).toHaveLength(3);
    expect(text.endsWith('\n')).toBe(true);
    expect(readMetrics(path)).toEqual(recs);
    expect(() => log2.append({ step: 2 })).toThrow(MetricsError);
    // truncate: a fresh file.
    const log3 = new MetricsLog(path, { truncate: true });
    log3.append({ step: 9 });
    log3.close();
    expect(readMetrics(path)).toEqual([{ step: 9 }]);
  });

  it('writes NaN/Infinity as null and lists the fields in nonFinite', () => {
    const dir = tmp();
    const path = join(dir, 'metrics.jsonl');
    const log = new MetricsLog(path);
    log.append({ step: 3, loss: NaN, klK1: -Infinity, reward: 0.5, is: { max: Infinity, mean: 1 }, lens: [1, NaN] });
    log.append({ step: 4, loss: 1 });
    expect(() => log.append({ step: 5, nonFinite: [] })).toThrow(MetricsError);
    log.close();
    const line = readFileSync(path, 'utf8').split('\n')[0]!;
    expect(line).not.toMatch(/NaN|Infinity/);
    const [a, b] = readMetrics(path);
    expect(a).toEqual({ step: 3, loss: null, klK1: null, reward: 0.5, is: { max: null, mean: 1 }, lens: [1, null], nonFinite: ['loss', 'klK1', 'is.max', 'lens[1]'] });
    expect(b).toEqual({ step: 4, loss: 1 });
    expect('nonFinite' in b!).toBe(false);
  });

  it('tolerates a truncated last line, drops it and reports it', () => {
    const dir = tmp();
    const path = join(dir, 'metrics.jsonl');
    writeFileSync(path, '{"step":0,"reward":0.1}\n{"step":1,"reward":0.2}\n{"step":2,"rew');
    const seen: (TruncatedLine & { path: string })[] = [];
    expect(readMetrics(path, { onTruncated: (i) => seen.push(i) })).toEqual([{ step: 0, reward: 0.1 }, { step: 1, reward: 0.2 }]);
    expect(seen).toEqual([{ line: 3, text: '{"step":2,"rew', path }]);
    expect(readMetricsDetailed(path).truncated).toEqual({ line: 3, text: '{"step":2,"rew' });
    // A complete last object without its newline is kept.
    expect(parseMetrics('{"step":0}\n{"step":1}').records).toEqual([{ step: 0 }, { step: 1 }]);
    expect(parseMetrics('').records).toEqual([]);
    // Reopening for append cuts the partial line, so the next record stays parseable.
    const log = new MetricsLog(path);
    expect(log.repairedPartialLine).toEqual({ line: 3, text: '{"step":2,"rew' });
    log.append({ step: 2, reward: 0.3 });
    log.close();
    const after = readMetricsDetailed(path);
    expect(after.truncated).toBeNull();
    expect(after.records.map((r) => r.step)).toEqual([0, 1, 2]);
  });

  it('a corrupt middle line is a typed error naming the line number', () => {
    const dir = tmp();
    const path = join(dir, 'metrics.jsonl');
    writeFileSync(path, '{"step":0}\n{"step":1,,}\n{"step":2}\n');
    let err: unknown;
    try {
      readMetrics(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MetricsError);
    expect(err).toBeInstanceOf(StablerlError);
    expect((err as MetricsError).line).toBe(2);
    expect((err as MetricsError).message).toMatch(/line 2/);
    expect((err as MetricsError).message).toContain(path);
    // A corrupt last line that did end with a newline is corruption, not truncation.
    expect(() => parseMetrics('{"step":0}\n{"st\n')).toThrow(/line 2/);
    // Not an object; an empty middle line.
    expect(() => parseMetrics('{"step":0}\n[1,2]\n{"step":2}\n')).toThrow(/line 2: not a JSON object/);
    expect(() => parseMetrics('{"step":0}\n\n{"step":2}\n')).toThrow(/line 2: empty line/);
    expect(() => readMetrics(join(dir, 'missing.jsonl'))).toThrow(MetricsError);
  });
});

describe('writeRunPlots', () => {
  it('writes reward, entropy, kl (log) and clipfrac plots into the run directory', () => {
    const dir = join(tmp(), 'run');
    const log = MetricsLog.inRunDir(dir);
    for (let step = 0; step < 30; step++) {
      log.append({
        step,
        reward: 0.2 + 0.02 * step,
        ...(step % 5 === 0 ? { evalAccuracy: 0.1 + 0.02 * step } : {}),
        entropy: 2 * Math.exp(-step / 20),
        klK1: step === 7 ? -1e-4 : 1e-4 * (1 + step),
        klK3: step === 9 ? NaN : 1e-5 * (1 + step),
        ...(step < 20 ? { clipfrac: 0.01 * step } : {}),
      });
    }
    log.close();
    const records = readMetrics(join(dir, 'metrics.jsonl'));
    const paths = writeRunPlots(dir, records);
    expect(paths).toEqual(PLOT_FILES.map((f) => join(dir, f)));
    expect(readdirSync(dir).sort()).toEqual([...PLOT_FILES, 'metrics.jsonl'].sort()); // no temp files left
    for (const p of paths) {
      const svg = readFileSync(p, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      checkWellFormed(svg);
      expect(svg).not.toContain('no data');
    }
    const reward = readFileSync(join(dir, 'reward.svg'), 'utf8');
    expect(reward).toContain('train reward');
    expect(reward).toContain('eval accuracy');
    const kl = readFileSync(join(dir, 'kl.svg'), 'utf8');
    expect(kl).toContain('skipped: 1 non-finite'); // klK3 NaN, via nonFinite
    expect(kl).toContain('skipped: 1 ≤ 0 (log axis)'); // klK1 negative
    // Deterministic: rewriting gives the same bytes.
    const before = paths.map((p) => readFileSync(p, 'utf8'));
    writeRunPlots(dir, records);
    expect(paths.map((p) => readFileSync(p, 'utf8'))).toEqual(before);
    // Records without the fields: "no data" charts, still written.
    const empty = join(tmp(), 'empty');
    writeRunPlots(empty, [{ step: 0 }, { other: 1 }]);
    for (const f of PLOT_FILES) expect(readFileSync(join(empty, f), 'utf8')).toContain('no data');
  });
});
