/**
 * A small, dependency-free SVG line-chart writer for the run-directory plots.
 *
 * lineChart(spec) returns a standalone SVG 1.1 document (a string starting with `<svg` and
 * carrying xmlns="http://www.w3.org/2000/svg"): a title, a frame with x/y axes, tick labels at
 * "nice" numbers (1, 2 or 5 × 10^k) on a linear axis or at whole decades (10^k) on a log axis,
 * axis labels, one polyline per series and a legend.
 *
 * Points that cannot be drawn are skipped, never drawn at a made-up place: NaN/±Infinity (either
 * coordinate) always, and y ≤ 0 on a log axis. A skipped point breaks the line (the segments on
 * either side are not joined), and the chart carries a note saying how many points were skipped
 * and why. A chart with no drawable point at all is drawn as a "no data" chart (frame, title,
 * legend, the note). The x axis is always linear; points are drawn in the order given.
 *
 * Output is deterministic: the same spec gives the same bytes (coordinates are written with
 * two decimals, tick labels with a precision fixed by the tick step; no dates, no random ids).
 */

export type YScale = 'linear' | 'log';

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ReadonlyArray<Series>;
  yScale: YScale;
  /** Pixels; default 640. */
  width?: number;
  /** Pixels; default 400. */
  height?: number;
}

/** Ticks of an axis: the axis runs from min to max, ticks are the labelled values. */
export interface Ticks {
  min: number;
  max: number;
  ticks: number[];
  labels: string[];
}

/** Series colours, in order (cycled when there are more series). */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Escapes text for SVG character data and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;');
}

/** A pixel coordinate with two decimals ("-0.00" is written "0.00"). */
function px(v: number): string {
  const s = v.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

/** Removes floating-point noise from k·step (0.1·3 = 0.30000000000000004 → 0.3). */
function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r;
}

/** A tick label for value v on an axis whose ticks are `step` apart. */
function linearLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const k = Math.floor(Math.log10(step) + 1e-9);
  const big = Math.max(Math.abs(v), step);
  if (big >= 1e6 || step < 1e-4) {
    // Exponent form, with enough mantissa digits to tell neighbouring ticks apart.
    const digits = Math.max(0, Math.floor(Math.log10(Math.abs(v)) + 1e-9) - k);
    return v.toExponential(Math.min(digits, 6)).replace('e+', 'e');
  }
  return v.toFixed(Math.max(0, -k));
}

/** The nice step (1, 2 or 5 × 10^k) nearest above range/target. */
export function niceStep(range: number, target = 5): number {
  const raw = range / Math.max(1, target);
  const k = Math.floor(Math.log10(raw));
  const f = raw / 10 ** k;
  const m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
  return clean(m * 10 ** k);
}

/**
 * Nice linear ticks covering [lo, hi]: the axis is widened outward to whole multiples of a step
 * of 1, 2 or 5 × 10^k chosen to give about `target` intervals. A zero-width range is widened
 * (by 10% of |lo|, or by 1 around 0) first.
 */
export function niceLinearTicks(lo: number, hi: number, target = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`niceLinearTicks: non-finite range [${lo}, ${hi}]`);
  if (lo > hi) [lo, hi] = [hi, lo];
  if (hi - lo <= Math.abs(hi) * 1e-12) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, target);
  const i0 = Math.floor(lo / step + 1e-9);
  const i1 = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = i0; i <= i1; i++) ticks.push(clean(i * step));
  return { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, labels: ticks.map((t) => linearLabel(t, step)) };
}

/** Label of 10^k: plain ("0.001", "100") when the whole axis is within 10^-3 ... 10^4, else "1e-6". */
function decadeLabel(k: number, plain: boolean): string {
  return plain ? String(Number(`1e${k}`)) : `1e${k}`;
}

/**
 * Log ticks covering [lo, hi] (both > 0): the axis runs from the decade at or below lo to the
 * decade at or above hi (at least one decade), ticks at every decade, thinned to every 2nd, 3rd,
 * ... decade when there are more than 10.
 */
export function logTicks(lo: number, hi: number): Ticks {
  if (!(lo > 0) || !(hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new RangeError(`logTicks: the range must be finite and positive, got [${lo}, ${hi}]`);
  }
  if (lo > hi) [lo, hi] = [hi, lo];
  const k0 = Math.floor(Math.log10(lo) + 1e-9);
  let k1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (k1 <= k0) k1 = k0 + 1;
  const every = Math.ceil((k1 - k0 + 1) / 10);
  const ticks: number[] = [];
  const labels: string[] = [];
  for (let k = k0; k <= k1; k++) {
    if ((k - k0) % every !== 0 && k !== k1) continue;
    ticks.push(Number(`1e${k}`));
    labels.push(decadeLabel(k, k0 >= -3 && k1 <= 4));
  }
  return { min: Number(`1e${k0}`), max: Number(`1e${k1}`), ticks, labels };
}

/** Splits a series into drawable runs, counting the points skipped. */
function segments(points: Series['points'], yScale: YScale): { runs: [number, number][][]; nonFinite: number; nonPositive: number } {
  const runs: [number, number][][] = [];
  let cur: [number, number][] = [];
  let nonFinite = 0;
  let nonPositive = 0;
  for (const [x, y] of points) {
    let ok = true;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      nonFinite++;
      ok = false;
    } else if (yScale === 'log' && y <= 0) {
      nonPositive++;
      ok = false;
    }
    if (ok) cur.push([x, y]);
    else if (cur.length > 0) {
      runs.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) runs.push(cur);
  return { runs, nonFinite, nonPositive };
}

/** Renders a line chart as a standalone SVG 1.1 document (see the file header). */
export function lineChart(spec: LineChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 400;
  if (!(W >= 200) || !(H >= 150)) throw new RangeError(`lineChart: width/height too small (${W}×${H}); need at least 200×150`);
  const log = spec.yScale === 'log';
  const left = 72;
  // legend column: wide enough for the longest series name (~7 px per character at 12 px)
  const right = Math.max(160, 44 + 7 * Math.max(0, ...spec.series.map((s) => s.name.length)));
  const top = 40;
  const bottom = 56;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const x0 = left;
  const y0 = top + ph;

  const perSeries = spec.series.map((s) => segments(s.points, spec.yScale));
  let nonFinite = 0;
  let nonPositive = 0;
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  for (const s of perSeries) {
    nonFinite += s.nonFinite;
    nonPositive += s.nonPositive;
    for (const run of s.runs) {
      for (const [x, y] of run) {
        if (x < xlo) xlo = x;
        if (x > xhi) xhi = x;
        if (y < ylo) ylo = y;
        if (y > yhi) yhi = y;
      }
    }
  }
  const hasData = xlo <= xhi;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${px(left + pw / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  out.push(`<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#000000" stroke-width="1"/>`);
  out.push(`<text x="${px(left + pw / 2)}" y="${H - 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  out.push(`<text x="16" y="${px(top + ph / 2)}" text-anchor="middle" transform="rotate(-90 16 ${px(top + ph / 2)})">${escapeXml(spec.yLabel)}</text>`);

  if (hasData) {
    const xt = niceLinearTicks(xlo, xhi, 6);
    const yt = log ? logTicks(ylo, yhi) : niceLinearTicks(ylo, yhi, 5);
    const sx = (x: number): number => x0 + ((x - xt.min) / (xt.max - xt.min)) * pw;
    const ly = (y: number): number => (log ? Math.log10(y) : y);
    const lmin = ly(yt.min);
    const lmax = ly(yt.max);
    const sy = (y: number): number => y0 - ((ly(y) - lmin) / (lmax - lmin)) * ph;

    out.push('<g stroke="#dddddd" stroke-width="1">');
    for (const t of yt.ticks) out.push(`<line x1="${x0}" y1="${px(sy(t))}" x2="${x0 + pw}" y2="${px(sy(t))}"/>`);
    out.push('</g>');
    out.push('<g stroke="#000000" stroke-width="1">');
    for (const t of xt.ticks) out.push(`<line x1="${px(sx(t))}" y1="${y0}" x2="${px(sx(t))}" y2="${y0 + 5}"/>`);
    for (const t of yt.ticks) out.push(`<line x1="${x0 - 5}" y1="${px(sy(t))}" x2="${x0}" y2="${px(sy(t))}"/>`);
    out.push('</g>');
    out.push('<g text-anchor="middle">');
    xt.ticks.forEach((t, i) => out.push(`<text x="${px(sx(t))}" y="${y0 + 18}">${escapeXml(xt.labels[i]!)}</text>`));
    out.push('</g>');
    out.push('<g text-anchor="end">');
    yt.ticks.forEach((t, i) => out.push(`<text x="${x0 - 8}" y="${px(sy(t) + 4)}">${escapeXml(yt.labels[i]!)}</text>`));
    out.push('</g>');

    perSeries.forEach((s, si) => {
      const color = PALETTE[si % PALETTE.length]!;
      const total = s.runs.reduce((n, r) => n + r.length, 0);
      out.push(`<g fill="none" stroke="${color}" stroke-width="1.5">`);
      for (const run of s.runs) {
        if (run.length >= 2) out.push(`<polyline points="${run.map(([x, y]) => `${px(sx(x))},${px(sy(y))}`).join(' ')}"/>`);
      }
      out.push('</g>');
      // Markers where lines alone would hide points: isolated points, or sparse series.
      const marks = s.runs.flatMap((run) => (run.length === 1 || total <= 40 ? run : []));
      if (marks.length > 0) {
        out.push(`<g fill="${color}" stroke="none">`);
        for (const [x, y] of marks) out.push(`<circle cx="${px(sx(x))}" cy="${px(sy(y))}" r="2.5"/>`);
        out.push('</g>');
      }
    });
  } else {
    out.push(`<text x="${px(left + pw / 2)}" y="${px(top + ph / 2)}" text-anchor="middle" font-size="16" fill="#777777">no data</text>`);
  }

  // Legend.
  const lx = x0 + pw + 14;
  spec.series.forEach((s, si) => {
    const y = top + 10 + si * 18;
    const color = PALETTE[si % PALETTE.length]!;
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 20}" y2="${y}" stroke="${color}" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 26}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });

  const notes: string[] = [];
  if (nonFinite > 0) notes.push(`skipped: ${nonFinite} non-finite`);
  if (nonPositive > 0) notes.push(`skipped: ${nonPositive} ≤ 0 (log axis)`);
  notes.forEach((n, i) => {
    out.push(`<text x="${lx}" y="${top + ph - 6 - (notes.length - 1 - i) * 16}" font-size="11" fill="#b00000">${escapeXml(n)}</text>`);
  });

  out.push('</svg>');
  return out.join('\n') + '\n';
}
