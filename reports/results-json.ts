// `mmconform run --json`: the run's results in one stable shape (README,
// "Results as JSON"): the target, every suite with its plan, exit and
// results as printed, and totals over all results.

import type { ResultStatus } from '../harness/ksft.ts';
import type { RunReport, SuiteReport, TargetSummary } from '../harness/runner.ts';

export interface ResultsJson {
  readonly target: TargetSummary;
  readonly suites: readonly SuiteReport[];
  readonly totals: Readonly<Record<ResultStatus, number>>;
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
  return { target: { name, arch, layout, kernel }, suites, totals };
}

export function resultsJsonText(report: RunReport): string {
  return `${JSON.stringify(resultsJson(report), null, 2)}\n`;
}
