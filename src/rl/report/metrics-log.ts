/**
 * metrics.jsonl: the run's metrics as JSON lines, one JSON object per line, one line per global
 * step.
 *
 * Writing (MetricsLog): each append writes the whole line (JSON + "\n") in one write call, so a
 * run killed mid-write leaves at most one partial line, at the end. With `fsync: true` every
 * append is flushed to disk before it returns.
 *
 * Non-finite numbers. NaN and ±Infinity are not valid JSON. A record field (at any depth) holding
 * one is written as `null`, and its path (`loss`, `is.max`, `lens[3]`) is listed in the record's
 * `nonFinite` array, so a reader can tell "was NaN/Inf" from "was null" and plots can count the
 * point as skipped rather than missing. Which non-finite value it was (NaN, +Inf, −Inf) is not
 * kept. `nonFinite` is therefore a reserved field name: a record that carries one is refused.
 * Records with no non-finite field have no `nonFinite` key.
 *
 * Reading (readMetrics): strict, with one exception. A last line that has no trailing newline and
 * does not parse is what a kill mid-write leaves: it is dropped and reported (onTruncated, or a
 * process warning). Any other bad line (invalid JSON, not an object, an empty line in the middle)
 * throws MetricsError naming the file and the 1-based line number.
 *
 * Reopening a file for append (resume) first cuts such a partial last line off, so the next
 * record does not get glued to it and turn it into a corrupt middle line; `repairedPartialLine`
 * says what was cut.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StablerlError } from '../../tensor/index.js';

/** A metrics file that cannot be read, or a record that cannot be written. */
export class MetricsError extends StablerlError {
  constructor(message: string, readonly path: string, readonly line?: number) {
    super(message);
  }
}

/** One line of metrics.jsonl. */
export type MetricsRecord = Record<string, unknown>;

/** The file name inside a run directory. */
export const METRICS_FILE = 'metrics.jsonl';

export interface MetricsLogOptions {
  /** fsync after every append (durable across power loss; slower). Default false. */
  fsync?: boolean;
  /** Start a fresh file instead of appending to an existing one. Default false. */
  truncate?: boolean;
}

/** A partial last line: its 1-based line number and its text. */
export interface TruncatedLine {
  line: number;
  text: string;
}

/**
 * Replaces non-finite numbers with null, collecting their paths. Returns a JSON-safe copy.
 * Throws on values JSON cannot hold faithfully (bigint, functions, cycles).
 */
function sanitize(v: unknown, path: string, bad: string[], seen: Set<object>, file: string): unknown {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    bad.push(path);
    return null;
  }
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || v === undefined) return v;
  if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
    throw new MetricsError(`MetricsLog.append: field '${path}' is a ${typeof v}, which JSON cannot hold`, file);
  }
  const o = v as object;
  if (seen.has(o)) throw new MetricsError(`MetricsLog.append: field '${path}' is a cycle`, file);
  seen.add(o);
  let r: unknown;
  if (Array.isArray(o)) r = o.map((e, i) => sanitize(e, `${path}[${i}]`, bad, seen, file));
  else if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
    r = Array.from(o as unknown as ArrayLike<number>, (e, i) => sanitize(Number(e), `${path}[${i}]`, bad, seen, file));
  } else {
    const obj: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(o)) obj[k] = sanitize(e, path === '' ? k : `${path}.${k}`, bad, seen, file);
    r = obj;
  }
  seen.delete(o);
  return r;
}

/** Serialises one record as a JSON line (with "\n"), non-finite numbers handled as documented. */
export function formatMetricsLine(record: MetricsRecord, file = METRICS_FILE): string {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new MetricsError('MetricsLog.append: a record must be a plain object', file);
  }
  if (Object.prototype.hasOwnProperty.call(record, 'nonFinite')) {
    throw new MetricsError("MetricsLog.append: 'nonFinite' is a reserved field name (it lists the fields written as null)", file);
  }
  const bad: string[] = [];
  const clean = sanitize(record, '', bad, new Set(), file) as Record<string, unknown>;
  if (bad.length > 0) clean.nonFinite = bad;
  return JSON.stringify(clean) + '\n';
}

/** Appends records to a metrics.jsonl file, one JSON object per line. Call close() when done. */
export class MetricsLog {
  readonly path: string;
  /** The partial last line cut off when the file was reopened, if any. */
  readonly repairedPartialLine: TruncatedLine | null = null;
  private fd: number | null;
  private readonly fsync: boolean;

  /** Opens (creating directories as needed) `path` for appending. */
  constructor(path: string, options: MetricsLogOptions = {}) {
    this.path = path;
    this.fsync = options.fsync ?? false;
    mkdirSync(dirname(path), { recursive: true });
    if (!options.truncate && existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const cut = text.lastIndexOf('\n') + 1;
      if (cut < text.length) {
        this.repairedPartialLine = { line: text.slice(0, cut).split('\n').length, text: text.slice(cut) };
        truncateSync(path, Buffer.byteLength(text.slice(0, cut), 'utf8'));
      }
    }
    this.fd = openSync(path, options.truncate ? 'w' : 'a');
  }

  /** Opens `<runDir>/metrics.jsonl`. */
  static inRunDir(runDir: string, options: MetricsLogOptions = {}): MetricsLog {
    return new MetricsLog(join(runDir, METRICS_FILE), options);
  }

  /** Writes one record as one line (see the file header for non-finite numbers). */
  append(record: MetricsRecord): void {
    if (this.fd === null) throw new MetricsError(`MetricsLog.append: ${this.path} is closed`, this.path);
    const buf = Buffer.from(formatMetricsLine(record, this.path), 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    if (this.fsync) fsyncSync(this.fd);
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

export interface ReadMetricsResult {
  records: MetricsRecord[];
  /** The partial last line that was dropped, or null. */
  truncated: TruncatedLine | null;
}

/** Parses metrics.jsonl text (see the file header); `path` is used in error messages. */
export function parseMetrics(text: string, path = METRICS_FILE): ReadMetricsResult {
  const records: MetricsRecord[] = [];
  if (text.length === 0) return { records, truncated: null };
  const lines = text.split('\n');
  const endsWithNewline = lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  let truncated: TruncatedLine | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const isPartial = i === lines.length - 1 && !endsWithNewline;
    let value: unknown;
    let problem: string | null = null;
    if (line.trim() === '') problem = 'empty line';
    else {
      try {
        value = JSON.parse(line);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) problem = 'not a JSON object';
      } catch (e) {
        problem = `invalid JSON (${(e as Error).message})`;
      }
    }
    if (problem === null) records.push(value as MetricsRecord);
    else if (isPartial) truncated = { line: i + 1, text: line };
    else {
      const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
      throw new MetricsError(`readMetrics: ${path} line ${i + 1}: ${problem}: ${JSON.stringify(shown)}`, path, i + 1);
    }
  }
  return { records, truncated };
}

/** Reads metrics.jsonl with the dropped partial line (if any) returned alongside. */
export function readMetricsDetailed(path: string): ReadMetricsResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MetricsError(`readMetrics: cannot read ${path}: ${(e as Error).message}`, path);
  }
  return parseMetrics(text, path);
}

export interface ReadMetricsOptions {
  /** Called when a partial last line was dropped; default: a process warning. */
  onTruncated?: (info: TruncatedLine & { path: string }) => void;
}

/** Reads the records of a metrics.jsonl file (see the file header for what is tolerated). */
export function readMetrics(path: string, options: ReadMetricsOptions = {}): MetricsRecord[] {
  const { records, truncated } = readMetricsDetailed(path);
  if (truncated !== null) {
    const info = { ...truncated, path };
    if (options.onTruncated) options.onTruncated(info);
    else {
      process.emitWarning(`${path}: dropped a partial last line (line ${truncated.line}, ${truncated.text.length} chars): the run was probably killed mid-write`, 'MetricsWarning');
    }
  }
  return records;
}
