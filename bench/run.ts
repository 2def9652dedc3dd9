// `npm run bench`: runs every bench/*.bench.ts module, prints a table on
// stdout (progress on stderr) and, with `--json FILE`, writes the results as
// JSON. Speed goals are ratios between variants timed side by side in one
// run, never absolute times: the machine and its load vary, the ratio much
// less.
//
//   npm run bench                      all modules
//   npm run bench -- descriptors       only modules whose name contains "descriptors"
//   npm run bench -- --json bench/results.json
//
// The npm script runs `node --expose-gc --import tsx` so that memory deltas are
// measured after a full GC; under plain `tsx` they are reported as unavailable.
//
// This file is also the harness the modules import (types, timing, memory).
// It starts only when it is the entry point, so that import is side-effect free.

import { readdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Proc } from '../harness/target.ts';
import { resolveTarget } from '../harness/targets/index.ts';

/** Bytes retained by something, measured after a full GC. */
export interface MemoryDelta {
  readonly heapUsed: number;
  readonly arrayBuffers: number;
  readonly total: number;
}

export interface BenchResult {
  /** the module's name */
  readonly bench: string;
  /** what is being compared, e.g. "pte_wrprotect" */
  readonly group: string;
  /** one contender, e.g. "bigint" */
  readonly variant: string;
  /** units of work per timed run */
  readonly ops: number;
  /** what one op is, e.g. "call" or "PTE" */
  readonly unit: string;
  readonly samplesMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  /** millions of ops per second at the median */
  readonly mopsPerSec: number;
  /** the group's first variant, timed in the same run */
  readonly baseline: string;
  /** baseline median / this median: above 1 is faster than the baseline */
  readonly speedup: number;
  /** memory retained by the variant's data, or null when not measured */
  readonly memory: MemoryDelta | null;
}

export interface BenchModule {
  readonly name: string;
  run(): Promise<BenchResult[]> | BenchResult[];
  /** a few lines drawn from the results (e.g. a decision), printed after the table */
  summary?(results: readonly BenchResult[]): string;
}

export interface TimingOptions {
  /** untimed runs first, so the JIT has settled */
  readonly warmup: number;
  readonly runs: number;
}

export const DEFAULT_TIMING: TimingOptions = { warmup: 2, runs: 5 };

export const hasGc = (): boolean => typeof globalThis.gc === 'function';

/** A full GC when --expose-gc is on; otherwise nothing (timings just get noisier). */
export function collect(): void {
  globalThis.gc?.();
}

export function progress(msg: string): void {
  process.stderr.write(`  ${msg}\n`);
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Memory that `build()` leaves reachable: GC, snapshot, build, GC, snapshot.
 * The result of build() is returned so the caller keeps it alive until after
 * the second snapshot. Null when GC cannot be forced (a delta with garbage in
 * it would mislead).
 */
export function measureMemory<T>(build: () => T): { value: T; memory: MemoryDelta | null } {
  if (!hasGc()) return { value: build(), memory: null };
  collect();
  collect();
  const before = process.memoryUsage();
  const value = build();
  collect();
  collect();
  const after = process.memoryUsage();
  const heapUsed = after.heapUsed - before.heapUsed;
  const arrayBuffers = after.arrayBuffers - before.arrayBuffers;
  return { value, memory: { heapUsed, arrayBuffers, total: heapUsed + arrayBuffers } };
}

/**
 * `runs` timings of `timed` on a target, each on a fresh process that
 * `prepare` has set up first, untimed; the target is closed at the end.
 */
export async function procSamples<T>(
  targetName: string,
  runs: number,
  prepare: (proc: Proc) => Promise<T>,
  timed: (proc: Proc, prepared: T) => Promise<unknown>,
): Promise<number[]> {
  const target = await resolveTarget(targetName);
  const samples: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const proc = await target.spawn();
      const prepared = await prepare(proc);
      const t0 = performance.now();
      await timed(proc, prepared);
      samples.push(performance.now() - t0);
      await proc.exit();
    }
  } finally {
    await target.close();
  }
  return samples;
}

/** One contender of a group: `run` does `ops` units of work and is timed whole. */
export interface Variant {
  readonly name: string;
  /** untimed preparation before each run (e.g. fresh tables) */
  readonly setup?: () => void;
  readonly run: () => void;
  readonly memory?: MemoryDelta | null;
}

/**
 * Times the variants of one group interleaved (A B A B ...), so drift in
 * clock speed or load hits them alike, and makes the first the baseline.
 */
export function compare(
  bench: string,
  group: string,
  unit: string,
  ops: number,
  variants: readonly Variant[],
  timing: TimingOptions = DEFAULT_TIMING,
): BenchResult[] {
  const samples = variants.map((): number[] => []);
  for (let r = 0; r < timing.warmup + timing.runs; r++) {
    variants.forEach((v, i) => {
      v.setup?.();
      collect(); // garbage of the previous variant must not be charged to this one
      const t0 = performance.now();
      v.run();
      const t = performance.now() - t0;
      if (r >= timing.warmup) samples[i]!.push(t);
    });
  }
  progress(`${bench}: ${group}: ${variants.map((v, i) => `${v.name} ${median(samples[i]!).toFixed(1)} ms`).join(', ')}`);
  return fromSamples(bench, group, unit, ops, variants, samples);
}

/** Results for samples timed elsewhere (e.g. several passes of one run), baseline first. */
export function fromSamples(
  bench: string,
  group: string,
  unit: string,
  ops: number,
  variants: readonly Pick<Variant, 'name' | 'memory'>[],
  samples: readonly (readonly number[])[],
): BenchResult[] {
  const base = median(samples[0]!);
  return variants.map((v, i) => {
    const s = samples[i]!;
    const med = median(s);
    return {
      bench,
      group,
      variant: v.name,
      ops,
      unit,
      samplesMs: s,
      medianMs: med,
      minMs: Math.min(...s),
      mopsPerSec: ops / med / 1000,
      baseline: variants[0]!.name,
      speedup: base / med,
      memory: v.memory ?? null,
    };
  });
}

// ---------------------------------------------------------------- runner

const isModule = (m: unknown): m is BenchModule => {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return typeof r['name'] === 'string' && typeof r['run'] === 'function' && (r['summary'] === undefined || typeof r['summary'] === 'function');
};

async function discover(dir: string, filters: readonly string[]): Promise<BenchModule[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort();
  const mods: BenchModule[] = [];
  for (const f of files) {
    const m: unknown = await import(pathToFileURL(resolve(dir, f)).href);
    // A file named *.bench.ts that is not a module is a mistake worth stopping for.
    if (!isModule(m)) throw new Error(`bench/${f} must export a string "name" and a function "run"`);
    if (filters.length === 0 || filters.some((x) => m.name.includes(x))) mods.push(m);
  }
  return mods;
}

const fmt = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function table(results: readonly BenchResult[]): string {
  const head = ['group', 'variant', 'median ms', 'min ms', 'M ops/s', 'vs baseline', 'memory (heap + buffers)'];
  const rows = results.map((r) => [
    r.group,
    r.variant,
    fmt(r.medianMs, 2),
    fmt(r.minMs, 2),
    `${fmt(r.mopsPerSec, 1)} M ${r.unit}/s`,
    r.variant === r.baseline ? 'baseline' : `${fmt(r.speedup, 2)}x`,
    r.memory ? `${mib(r.memory.total)} (${mib(r.memory.heapUsed)} + ${mib(r.memory.arrayBuffers)})` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  let prev = '';
  for (const [i, r] of results.entries()) {
    if (prev !== '' && r.group !== prev) out.push(''); // a blank line between groups
    out.push(line(rows[i]!));
    prev = r.group;
  }
  return out.join('\n');
}

function parseArgs(argv: readonly string[]): { json: string | null; filters: string[] } {
  let json: string | null = null;
  const filters: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') {
      const f = argv[++i];
      if (f === undefined) throw new BenchUsageError('--json needs a file name');
      json = f;
    } else if (a.startsWith('--json=')) json = a.slice('--json='.length);
    else if (a.startsWith('-')) throw new BenchUsageError(`unknown option ${a} (usage: run.ts [--json FILE] [NAME...])`);
    else filters.push(a);
  }
  return { json, filters };
}

/** A name or option on the command line (or in the environment) that the runner or a module cannot take. */
export class BenchUsageError extends Error {}

async function main(): Promise<void> {
  const { json, filters } = parseArgs(process.argv.slice(2));
  const here = dirname(fileURLToPath(import.meta.url));
  const mods = await discover(here, filters);
  if (mods.length === 0) throw new BenchUsageError(`no benchmark module matches ${filters.join(', ')}`);
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`node ${process.version}, ${cpus().length} x ${cpu}; gc ${hasGc() ? 'exposed: memory measured' : 'not exposed: no memory figures (run with node --expose-gc)'}`);
  const all: { name: string; results: BenchResult[]; summary: string | null }[] = [];
  for (const m of mods) {
    progress(`${m.name}: running`);
    const results = await m.run();
    const summary = m.summary ? m.summary(results) : null;
    all.push({ name: m.name, results, summary });
    console.log(`\n## ${m.name}\n\n${table(results)}`);
    if (summary !== null) console.log(`\n${summary}`);
  }
  if (json !== null) {
    // Plain numbers and strings only: JSON.stringify throws on bigint.
    const doc = {
      node: process.version,
      cpu,
      cpus: cpus().length,
      gcExposed: hasGc(),
      date: new Date().toISOString(),
      modules: all,
    };
    await writeFile(json, `${JSON.stringify(doc, null, 2)}\n`);
    progress(`wrote ${json}`);
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  main().catch((e: unknown) => {
    // bad input is one line and exit 2; anything else is a bug in a benchmark, shown whole
    if (e instanceof BenchUsageError) {
      console.error(`bench: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  });
}
