// Coverage of an in-process model by the conformance suites: each suite
// runs in a process of its own (`mmconform run`) under V8's coverage
// (NODE_V8_COVERAGE), and c8 maps what ran back to the TypeScript sources:
// HTML, lcov and a JSON summary per suite, and for all of them together.

import { spawn } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the package's root: bin/mmconform.js and model/ are under it */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'mmconform.js');
/** the report written for every suite, and for all of them as "total" */
const REPORTERS = ['html', 'lcov', 'json-summary'];
export const TOTAL = 'total';

/** One report's share of the sources covered. */
export interface CoverageSummary {
  readonly name: string;
  readonly lines: { readonly covered: number; readonly total: number; readonly pct: number };
  readonly functions: { readonly covered: number; readonly total: number; readonly pct: number };
  readonly branches: { readonly covered: number; readonly total: number; readonly pct: number };
  /** the suite's `mmconform run` exit status (null for the total) */
  readonly exit: number | null;
}

export interface CoverageOptions {
  readonly target: string;
  readonly suites: readonly string[];
  /** where the reports go: DIR/SUITE/ and DIR/total/ */
  readonly out: string;
  /** source files measured besides model/ (a module plug-in's file) */
  readonly extraSources: readonly string[];
  /** the KTAP of suite `index` (from 0), as it comes */
  readonly ktap: (chunk: string, index: number) => void;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** `mmconform run --target T --suite S` under NODE_V8_COVERAGE=dir: its exit status. */
function runSuite(target: string, suite: string, dir: string, ktap: (chunk: string) => void, signal?: AbortSignal): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'run', '--target', target, '--suite', suite], {
      env: { ...process.env, NODE_V8_COVERAGE: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stop = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', stop, { once: true });
    child.stdout.setEncoding('utf8').on('data', ktap);
    child.on('error', fail);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', stop);
      done(code ?? 128 + (sig === 'SIGTERM' ? 15 : 2));
    });
  });
}

/** c8's report of the raw coverage in `raw`, written to `dir`; its summary. */
async function report(name: string, raw: string, dir: string, sources: readonly string[], exit: number | null): Promise<CoverageSummary> {
  // loaded here: the other commands run where the package's dev dependencies are not installed
  const { Report } = await import('c8').catch(() => {
    throw new Error('c8 is not installed: npm ci installs it');
  });
  await new Report({
    reporter: REPORTERS,
    reportsDirectory: dir,
    tempDirectory: raw,
    include: [...sources],
    exclude: ['**/*.test.ts', '**/*.testing.ts'],
    // files no suite loaded count too, as 0%
    all: true,
    src: [join(ROOT, 'model'), ...sources.slice(1).map((s) => dirname(s))],
    allowExternal: true,
    excludeAfterRemap: true,
  }).run();
  const total = JSON.parse(await readFile(join(dir, 'coverage-summary.json'), 'utf8')).total;
  const part = (k: string) => ({ covered: total[k].covered as number, total: total[k].total as number, pct: total[k].pct as number });
  return { name, lines: part('lines'), functions: part('functions'), branches: part('branches'), exit };
}

/**
 * Runs each suite under coverage and reports it, then all of them together.
 * Stops at the abort signal, and still reports the suites done by then.
 */
export async function coverage(o: CoverageOptions): Promise<CoverageSummary[]> {
  const sources = [join(ROOT, 'model', '**'), ...o.extraSources.map((s) => resolve(s))];
  const raw = join(o.out, '.v8');
  await rm(raw, { recursive: true, force: true });
  const summaries: CoverageSummary[] = [];
  const all = join(raw, TOTAL);
  await mkdir(all, { recursive: true });
  for (const [i, suite] of o.suites.entries()) {
    if (o.signal?.aborted) break;
    o.progress(`[${i + 1}/${o.suites.length}] ${suite}: running under coverage`);
    const dir = join(raw, suite);
    const exit = await runSuite(o.target, suite, dir, (chunk) => o.ktap(chunk, i), o.signal);
    if (o.signal?.aborted) break;
    summaries.push(await report(suite, dir, join(o.out, suite), sources, exit));
    for (const f of await readdir(dir)) await copyFile(join(dir, f), join(all, `${suite}-${f}`));
  }
  if (summaries.length) summaries.push(await report(TOTAL, all, join(o.out, TOTAL), sources, null));
  await rm(raw, { recursive: true, force: true });
  return summaries;
}
