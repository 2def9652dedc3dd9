// Runs mutants: the suites on each mutant and on the reference it derives
// from, side by side; every result whose status differs kills the mutant.

import { compareMatrix, type Cell } from '../reports/compare.ts';
import { deriveReference } from '../harness/plugin.ts';
import { interruptSignal, runSuites, type InterruptSignal, type RunReport } from '../harness/runner.ts';
import type { Suite } from '../harness/suite.ts';
import type { Target } from '../harness/target.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import type { Mutant, Unexpressed } from './catalogue.ts';

/** A result that tells the mutant from its base: its status on each. */
export interface Kill {
  readonly suite: string;
  /** the result's name; "(exit)" for the suite's own status */
  readonly name: string;
  readonly base: Cell;
  readonly mutant: Cell;
}

export interface MutantOutcome {
  readonly mutant: Mutant;
  /** the reference target it derives from */
  readonly base: string;
  /** every result that kills it (none: it survived) */
  readonly kills: readonly Kill[];
  readonly seconds: number;
}

export interface MutantsReport {
  readonly suites: readonly string[];
  readonly outcomes: readonly MutantOutcome[];
  readonly unexpressed: readonly Unexpressed[];
  /** the mutants asked for, of which the outcomes are those run before an interruption */
  readonly planned: number;
  readonly interrupted: InterruptSignal | null;
}

export interface MutantsOptions {
  /** a line of progress per mutant */
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
}

const quiet = { stdout: () => {}, stderr: () => {} };

async function runOn(make: () => Promise<Target>, name: string, suites: readonly Suite[], signal?: AbortSignal): Promise<RunReport> {
  const target = await make();
  try {
    return await runSuites(target, name, suites, { ...quiet, ...(signal ? { signal } : {}) });
  } finally {
    await target.close();
  }
}

export async function runMutants(mutants: readonly Mutant[], unexpressed: readonly Unexpressed[], suites: readonly Suite[], options: MutantsOptions): Promise<MutantsReport> {
  const bases = new Map<string, RunReport>();
  const outcomes: MutantOutcome[] = [];
  const { signal } = options;
  for (const [i, mutant] of mutants.entries()) {
    if (signal?.aborted) break;
    const started = performance.now();
    const base = mutant.variant.base ?? 'reference';
    if (!bases.has(base)) bases.set(base, await runOn(() => resolveTarget(base), base, suites, signal));
    const report = await runOn(() => deriveReference(mutant.variant), mutant.id, suites, signal);
    if (report.interrupted) break;
    const kills = compareMatrix([bases.get(base)!, report])
      .rows.filter((r) => !r.agree)
      .map((r): Kill => ({ suite: r.suite, name: r.name, base: r.cells[0]!, mutant: r.cells[1]! }));
    const seconds = (performance.now() - started) / 1000;
    outcomes.push({ mutant, base, kills, seconds });
    options.progress(`[${i + 1}/${mutants.length}] ${mutant.id} (${mutant.ref}): ${kills.length ? `killed by ${kills.length} result(s)` : 'SURVIVED'} in ${seconds.toFixed(1)} s`);
  }
  return { suites: suites.map((s) => s.name), outcomes, unexpressed, planned: mutants.length, interrupted: signal?.aborted ? interruptSignal(signal) : null };
}
