// Runs ported selftests on a target the way kselftest's runner.sh runs test
// binaries: each in a fresh process, its output nested under "# ", one
// "ok"/"not ok" line per program from its exit status, a timeout per
// program. Whatever happens inside a suite (a signal, a bug in the port, a
// target that dies or answers garbage) ends that suite only, with an error
// result; the next one still runs.

import { paintStatuses } from './colour.ts';
import { oneLineMessage } from './command.ts';
import { KSFT_PASS, KSFT_SKIP, KSFT_XFAIL, Ksft, type KsftResult, type ResultStatus } from './ksft.ts';
import { guardProc, type GuardedProc } from './proc-guard.ts';
import type { Suite } from './suite.ts';
import type { Proc, Target, TargetInfo } from './target.ts';
import { FATAL_SIGNALS, KilledBySignal, type FatalSignal } from './user-memory.ts';

/** tools/testing/selftests/mm/settings: timeout=900 */
const DEFAULT_TIMEOUT_SECONDS = 900;

/** runner.sh's timeout_rc: what timeout(1) exits with */
const TIMEOUT_RC = 124;

/** The signals that stop a run with the results so far; SIGPIPE stands for a stdout whose reader went away. */
export const INTERRUPT_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGPIPE: 13, SIGTERM: 15 } as const;
export type InterruptSignal = keyof typeof INTERRUPT_SIGNALS;

/**
 * What bin/mmconform.js emits on `process` when stdout's reader has gone:
 * Node ignores SIGPIPE and reports EPIPE instead. (Listening for the signal
 * itself would hand it back to the default action once the listener goes,
 * and the next write to any closed pipe would kill the process.)
 */
export const STDOUT_CLOSED = 'mmconform:stdout-closed';

/** how often a suite still running says how far it got, on stderr */
const PROGRESS_MS = 10_000;

/**
 * Calls `handler` on each interrupt signal until the returned function is
 * called. SIGINT, SIGTERM and SIGHUP are taken once (a second one ends the
 * process as it would any program); a closed stdout, as SIGPIPE, once.
 */
export function onInterrupt(handler: (signal: InterruptSignal) => void): () => void {
  const listeners = (Object.keys(INTERRUPT_SIGNALS) as InterruptSignal[]).map((signal) => {
    const event = signal === 'SIGPIPE' ? STDOUT_CLOSED : signal;
    const listener = (): void => handler(signal);
    process.once(event, listener);
    return [event, listener] as const;
  });
  return () => {
    for (const [event, listener] of listeners) process.removeListener(event, listener);
  };
}

export interface TargetSummary {
  readonly name: string;
  readonly arch: string;
  readonly layout: string | null;
  readonly kernel: string;
}

/** How a suite ended, as the runner judges it from the exit status. */
export interface SuiteExit {
  readonly status: ResultStatus;
  /** the exit status runner.sh would see (128+N for signal N); null when the harness failed */
  readonly code: number | null;
  /** the Bail out! or skip message, or what went wrong; null otherwise */
  readonly reason: string | null;
}

export interface SuiteReport {
  readonly name: string;
  readonly source: string;
  /** the N of "1..N" as printed; null when the program printed no plan */
  readonly plan: number | null;
  readonly exit: SuiteExit;
  readonly results: readonly KsftResult[];
}

export interface RunReport {
  readonly target: TargetSummary;
  readonly suites: readonly SuiteReport[];
  /** set when a signal stopped the run: the suites after it did not run */
  readonly interrupted: InterruptSignal | null;
  /** the suites the run was asked for (more than `suites` when it was interrupted) */
  readonly planned?: number;
}

export interface RunOptions {
  /** KTAP */
  readonly stdout: (text: string) => void;
  /** progress, a line per suite */
  readonly stderr: (text: string) => void;
  /** statuses in the progress lines coloured (stderr is a terminal) */
  readonly colour?: boolean;
  readonly timeoutSeconds?: number;
  /** aborting with reason "SIGINT" or "SIGTERM" stops the run after the current suite's results */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
  /**
   * Only the results whose name this accepts are reported (run --test): a
   * suite still runs whole, as its C program does (its tests share state),
   * and its KTAP is the chosen results renumbered under a plan of their own.
   */
  readonly select?: (name: string) => boolean;
  /** wraps each suite's process (descriptor recording); `resultsSoFar` counts the suite's results */
  readonly wrapProc?: (proc: Proc, suite: string, resultsSoFar: () => number) => Proc;
}

type Ending =
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'killed'; readonly signal: FatalSignal; readonly reason: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'interrupted'; readonly signal: InterruptSignal }
  | { readonly kind: 'error'; readonly reason: string };

/** runner.sh's TEST_HDR_MSG: "selftests: mm: soft-dirty"; suites of mmconform's own are in "mmconform" */
export function ktapDescription(suite: { readonly name: string; readonly source: string }): string {
  const dir = /tools\/testing\/selftests\/(.+)\/[^/]+$/.exec(suite.source)?.[1] ?? 'mmconform';
  return `selftests: ${dir}: ${suite.name}`;
}

/** As run_kselftest.sh: 0 when every suite passed, skipped or xfailed, 1 when any failed or errored; 128+N after signal N. */
export function runExitStatus(report: RunReport): number {
  if (report.interrupted) return 128 + INTERRUPT_SIGNALS[report.interrupted];
  return report.suites.some((s) => s.exit.status === 'fail' || s.exit.status === 'error') ? 1 : 0;
}

export async function runSuites(
  target: Target,
  targetName: string,
  suites: readonly Suite[],
  options: RunOptions,
): Promise<RunReport> {
  const { stdout, stderr, signal } = options;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const now = options.now ?? (() => performance.now());
  const info = await target.info().then(
    (i): TargetInfo | Error => i,
    (e: unknown) => new Error(`info(): ${oneLineMessage(e)}`),
  );
  const summary: TargetSummary =
    info instanceof Error
      ? { name: targetName, arch: 'unknown', layout: null, kernel: 'unknown' }
      : { name: info.name, arch: info.arch, layout: info.layout, kernel: info.kernel };

  stdout('TAP version 13\n');
  stdout(`1..${suites.length}\n`);
  const where = info instanceof Error ? targetName : `${targetName} (${info.arch}, kernel ${info.kernel}${info.layout ? `, layout ${info.layout}` : ''})`;
  stderr(`mmconform: ${suites.length} suite(s) on ${where}\n`);
  const runStart = now();
  const reports: SuiteReport[] = [];
  let interrupted: InterruptSignal | null = null;
  for (const [i, suite] of suites.entries()) {
    if (signal?.aborted) {
      interrupted = interruptSignal(signal);
      break;
    }
    const description = ktapDescription(suite);
    stdout(`# timeout set to ${timeoutSeconds}\n`);
    stdout(`# ${description}\n`);
    const nested = tapPrefix(stdout);
    const select = options.select;
    const ksft = new Ksft(select ? () => {} : nested.write, now);
    const start = now();
    // a long suite says how far it got every PROGRESS_MS (pagemap_ioctl takes minutes on a guest)
    const progress = setInterval(() => stderr(`[${i + 1}/${suites.length}] ${suite.name}: ${ksft.results.length} result(s) so far, ${((now() - start) / 1000).toFixed(0)} s\n`), PROGRESS_MS);
    progress.unref();
    const ending = await runOne(target, info, suite, ksft, timeoutSeconds, signal, options.wrapProc).finally(() => clearInterval(progress));
    const elapsed = now() - start;
    const report = suiteReport(suite, ksft, ending, elapsed, description, timeoutSeconds, select);
    if (select) nested.write(selectedKtap(report));
    // The shell's word on a job a signal killed goes to stderr, which runner.sh nests with stdout.
    if (ending.kind === 'killed') nested.write(`${FATAL_SIGNALS[ending.signal].description}\n`);
    nested.close();
    if (ending.kind === 'error') stdout(`# mmconform: error: ${ending.reason}\n`);
    stdout(`${select && ending.kind === 'exit' ? selectedVerdict(i + 1, description, report.exit) : ktapVerdict(i + 1, description, ending, timeoutSeconds)}\n`);

    reports.push(report);
    stderr(paintStatuses(progressLine(i + 1, suites.length, report, elapsed), options.colour === true));
    if (ending.kind === 'interrupted') {
      interrupted = ending.signal;
      break;
    }
  }
  stdout(ktapTotals(reports));
  stderr(paintStatuses(totalLine(reports, now() - runStart), options.colour === true));
  return { target: summary, suites: reports, interrupted, planned: suites.length };
}

/**
 * Spawns a process, runs the suite's main() on it, exits it; bounded by the
 * timeout and the abort signal. A suite cut short is cancelled (its next
 * call fails), its output dropped, its process exited without waiting.
 */
async function runOne(
  target: Target,
  info: TargetInfo | Error,
  suite: Suite,
  ksft: Ksft,
  timeoutSeconds: number,
  signal: AbortSignal | undefined,
  wrapProc: RunOptions['wrapProc'],
): Promise<Ending> {
  let proc: Proc | undefined;
  let guarded: GuardedProc | undefined;
  const work = (async (): Promise<Ending> => {
    if (info instanceof Error) throw info;
    proc = await target.spawn();
    guarded = guardProc(proc);
    // recorders see the calls as the suite makes them: those it makes together arrive together,
    // whenever the guard lets the event loop turn
    const t = { proc: wrapProc ? wrapProc(guarded.proc, suite.name, () => ksft.results.length) : guarded.proc, ksft, pagesize: BigInt(info.pageSize), arch: info.arch };
    return { kind: 'exit', code: await ksft.runMain(() => suite.run(t)) };
  })().catch(endingOf);

  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const cutShort = new Promise<Ending>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutSeconds * 1000);
    if (signal) {
      onAbort = () => resolve({ kind: 'interrupted', signal: interruptSignal(signal) });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const ending = await Promise.race([work, cutShort]);
  clearTimeout(timer);
  if (onAbort) signal?.removeEventListener('abort', onAbort);

  const spawned = proc;
  if (spawned === undefined) return ending;
  if (ending.kind === 'timeout' || ending.kind === 'interrupted') {
    guarded?.cancel();
    spawned.exit().catch(() => {});
    return ending;
  }
  try {
    await spawned.exit();
  } catch (e) {
    // The results stand, but a target that dies at exit is broken: say so.
    if (ending.kind === 'exit') return { kind: 'error', reason: `exit(): ${oneLineMessage(e)}` };
  }
  return ending;
}

function endingOf(e: unknown): Ending {
  if (e instanceof KilledBySignal) return { kind: 'killed', signal: e.signal, reason: e.message };
  return { kind: 'error', reason: oneLineMessage(e) };
}

/** The signal an aborted run was stopped by. */
export function interruptSignal(signal: AbortSignal): InterruptSignal {
  return typeof signal.reason === 'string' && signal.reason in INTERRUPT_SIGNALS ? (signal.reason as InterruptSignal) : 'SIGINT';
}

/** Prefixes each line of a program's output with "# ", as kselftest/prefix.pl does. */
function tapPrefix(stdout: (text: string) => void): { write: (text: string) => void; close: () => void } {
  let needed = true;
  let open = true;
  return {
    write(text) {
      if (!open || text === '') return;
      const lines = text.split(/(?<=\n)/);
      stdout(lines.map((line, i) => (needed || i > 0 ? `# ${line}` : line)).join(''));
      needed = text.endsWith('\n');
    },
    close() {
      open = false;
    },
  };
}

/** The program's exit status as runner.sh sees it: 128+N for a signal. */
function exitCode(ending: Ending): number | null {
  switch (ending.kind) {
    case 'exit':
      return ending.code;
    case 'killed':
      return 128 + FATAL_SIGNALS[ending.signal].number;
    case 'timeout':
      return TIMEOUT_RC;
    case 'interrupted':
      return 128 + INTERRUPT_SIGNALS[ending.signal];
    case 'error':
      return null;
  }
}

/** The verdict of chosen results: fail if one failed, skip if all skipped, else pass. */
function selectedStatus(results: readonly KsftResult[]): { status: ResultStatus; reason: string | null } {
  if (results.some((r) => r.status === 'fail' || r.status === 'error')) return { status: 'fail', reason: null };
  if (results.length > 0 && results.every((r) => r.status === 'skip')) return { status: 'skip', reason: null };
  return { status: 'pass', reason: null };
}

/** The chosen results as KTAP of their own: a plan, and each renumbered, as kselftest prints them. */
function selectedKtap(report: SuiteReport): string {
  const line = (r: KsftResult) => {
    if (r.status === 'pass') return `ok ${r.n} ${r.name}`;
    if (r.status === 'skip') return `ok ${r.n} # SKIP ${r.name}`;
    if (r.status === 'xfail') return `ok ${r.n} # XFAIL ${r.name}`;
    return `not ok ${r.n} ${r.name}`;
  };
  return ['TAP version 13', `1..${report.results.length}`, ...report.results.map(line)].map((l) => `${l}\n`).join('');
}

/** The program's line for chosen results: their verdict. */
function selectedVerdict(n: number, description: string, exit: SuiteExit): string {
  if (exit.status === 'skip') return `ok ${n} ${description} # SKIP`;
  return `${exit.status === 'fail' ? 'not ok' : 'ok'} ${n} ${description}`;
}

/** runner.sh's line for a program, from its exit status. */
function ktapVerdict(n: number, description: string, ending: Ending, timeoutSeconds: number): string {
  const code = exitCode(ending);
  if (code === KSFT_PASS) return `ok ${n} ${description}`;
  if (code === KSFT_SKIP) return `ok ${n} ${description} # SKIP`;
  if (code === KSFT_XFAIL) return `ok ${n} ${description} # XFAIL`;
  if (code === TIMEOUT_RC) return `not ok ${n} ${description} # TIMEOUT ${timeoutSeconds} seconds`;
  // No exit status to show when the harness, not the program, failed.
  if (code === null) return `not ok ${n} ${description} # ERROR`;
  return `not ok ${n} ${description} # exit=${code}`;
}

function suiteReport(
  suite: Suite,
  ksft: Ksft,
  ending: Ending,
  elapsed: number,
  description: string,
  timeoutSeconds: number,
  select?: (name: string) => boolean,
): SuiteReport {
  let exit = suiteExit(ksft, ending, timeoutSeconds);
  const results = select ? ksft.results.filter((r) => select(r.name)).map((r, i) => ({ ...r, n: i + 1 })) : [...ksft.results];
  // chosen results: the suite's verdict is theirs (a program's own end still counts when it was no exit)
  if (select && ending.kind === 'exit') exit = { ...exit, ...selectedStatus(results) };
  if (exit.status === 'error') {
    const ms = elapsed - results.reduce((sum, r) => sum + r.ms, 0);
    results.push({ n: results.length + 1, name: description, status: 'error', reason: exit.reason, ms });
  }
  return { name: suite.name, source: suite.source, plan: ksft.plan, exit, results };
}

function suiteExit(ksft: Ksft, ending: Ending, timeoutSeconds: number): SuiteExit {
  const code = exitCode(ending);
  switch (ending.kind) {
    case 'exit':
      if (code === KSFT_PASS) return { status: 'pass', code, reason: null };
      if (code === KSFT_SKIP) return { status: 'skip', code, reason: ksft.exitSkipReason };
      if (code === KSFT_XFAIL) return { status: 'xfail', code, reason: null };
      return { status: 'fail', code, reason: ksft.bailOut };
    case 'killed':
    case 'error':
      return { status: 'error', code, reason: ending.reason };
    case 'timeout':
      return { status: 'error', code, reason: `TIMEOUT ${timeoutSeconds} seconds` };
    case 'interrupted':
      return { status: 'error', code, reason: `interrupted by ${ending.signal}` };
  }
}

/** What run_kselftest.sh's totals count: one per program, a harness error counted as a failure (its error: is always 0). */
export function suiteTotals(reports: readonly SuiteReport[]): Readonly<Record<'pass' | 'fail' | 'xfail' | 'skip', number>> {
  const count = (...statuses: ResultStatus[]): number => reports.filter((r) => statuses.includes(r.exit.status)).length;
  return { pass: count('pass'), fail: count('fail', 'error'), xfail: count('xfail'), skip: count('skip') };
}

/** run_kselftest.sh's ktap_print_totals. */
function ktapTotals(reports: readonly SuiteReport[]): string {
  const t = suiteTotals(reports);
  const skip = t.skip;
  // echo "# $KTAP_CNT_SKIP skipped test(s) detected. " "Consider ...": two words, so two spaces.
  const skipped = skip > 0 ? `# ${skip} skipped test(s) detected.  Consider enabling relevant config options to improve coverage.\n` : '';
  return `${skipped}# Totals: pass:${t.pass} fail:${t.fail} xfail:${t.xfail} xpass:0 skip:${skip} error:0\n`;
}

/** The run's total on stderr: every result by status, and the time. */
function totalLine(reports: readonly SuiteReport[], elapsed: number): string {
  const results = reports.flatMap((r) => r.results);
  const counts = (['pass', 'fail', 'skip', 'xfail', 'error'] as const).map((s) => [s, results.filter((r) => r.status === s).length] as const).filter(([s, n]) => n > 0 || s !== 'xfail');
  return `mmconform: ${results.length} result(s) in ${reports.length} suite(s): ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}; ${(elapsed / 1000).toFixed(1)} s\n`;
}

function progressLine(n: number, total: number, report: SuiteReport, elapsed: number): string {
  const { status, code, reason } = report.exit;
  const counts = (['pass', 'fail', 'skip'] as const).map((s) => `${report.results.filter((r) => r.status === s).length} ${s}`);
  const exit = code === null ? '' : ` (exit=${code})`;
  return `[${n}/${total}] ${report.name}: ${status}${exit} in ${(elapsed / 1000).toFixed(2)} s, ${counts.join(', ')}${reason === null ? '' : `: ${reason}`}\n`;
}
