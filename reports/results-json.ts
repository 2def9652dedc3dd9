// `mmconform run --json`: the run's results in one stable shape (docs/run.md):
// the target, every suite with its plan, exit and
// results as printed, and totals over all results.

import type { ResultStatus } from '../harness/ksft.ts';
import { suiteTotals, type InterruptSignal, type RunReport, type SuiteReport, type TargetSummary } from '../harness/runner.ts';

export interface ResultsJson {
  readonly target: TargetSummary;
  /** whether every suite asked for ran to its end; if not, the signal that stopped the run */
  readonly run: { readonly complete: boolean; readonly interrupted: InterruptSignal | null; readonly suitesPlanned: number; readonly suitesRun: number };
  readonly suites: readonly SuiteReport[];
  /** the results of every suite, by status; a harness error is "error" */
  readonly totals: Readonly<Record<ResultStatus, number>>;
  /** the suites, as KTAP's "# Totals:" line counts them: a harness error counts as a failure there */
  readonly suiteTotals: Readonly<Record<'pass' | 'fail' | 'xfail' | 'skip', number>>;
}

export function resultsJson(report: RunReport): ResultsJson {
  const suites = report.suites.map(
    (s): SuiteReport => ({
      name: s.name,
      source: s.source,
      plan: s.plan,
      exit: { status: s.exit.status, code: s.exit.code, reason: s.exit.reason },
      // To the microsecond: finer digits are timer noise.
      results: s.results.map((r) => ({ n: r.n, name: r.name, status: r.status, reason: r.reason, ms: Math.round(r.ms * 1000) / 1000 })),
    }),
  );
  const all = suites.flatMap((s) => s.results);
  const count = (status: ResultStatus): number => all.filter((r) => r.status === status).length;
  const totals = { pass: count('pass'), fail: count('fail'), skip: count('skip'), xfail: count('xfail'), error: count('error') };
  const { name, arch, layout, kernel } = report.target;
  const planned = report.planned ?? suites.length;
  const run = { complete: report.interrupted === null && suites.length === planned, interrupted: report.interrupted, suitesPlanned: planned, suitesRun: suites.length };
  return { target: { name, arch, layout, kernel }, run, suites, totals, suiteTotals: suiteTotals(report.suites) };
}

export function resultsJsonText(report: RunReport): string {
  return `${JSON.stringify(resultsJson(report), null, 2)}\n`;
}
