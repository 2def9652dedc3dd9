// The fuzzer alone against the mutants: each mutant, built as a plug-in
// would be, gets generated sequences judged by the oracles (no suite, no
// second target to compare with), until one breaks a promise or the budget
// per mutant runs out. A broken promise kills it; the reference itself must
// keep every promise on the same sequences, or the oracle, not the mutant,
// is wrong.

import fc from 'fast-check';
import { deriveReference } from '../harness/plugin.ts';
import { interruptSignal } from '../harness/runner.ts';
import type { Target } from '../harness/target.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { callSequence, type Call } from '../suites/fuzz/calls.ts';
import type { Judge } from '../suites/fuzz/oracles.ts';
import { oracleJudge } from '../suites/fuzz/sequence.ts';
import type { Mutant, Unexpressed } from './catalogue.ts';
import type { Kill, MutantOutcome, MutantsOptions, MutantsReport } from './run.ts';

/** Each mutant's budget: sequences, or seconds, from one seed (sequence k drawn with seed + k). */
export interface FuzzBudget {
  readonly runs: number;
  readonly seconds: number | null;
  readonly seed: number;
  readonly maxCalls: number;
}

async function judgeOn(target: Target, maxCalls: number): Promise<{ judge: Judge; arb: fc.Arbitrary<Call[]> }> {
  const caps = await target.capabilities();
  return { judge: await oracleJudge(target), arb: callSequence({ hugetlb: caps.hugetlb, uffdWp: caps.uffdWp, sameArch: true }, undefined, maxCalls, true) };
}

export async function fuzzMutants(mutants: readonly Mutant[], unexpressed: readonly Unexpressed[], budget: FuzzBudget, options: MutantsOptions): Promise<MutantsReport> {
  const outcomes: MutantOutcome[] = [];
  const { signal } = options;
  const bases = new Map<string, Target>();
  try {
    for (const [i, mutant] of mutants.entries()) {
      if (signal?.aborted) break;
      const started = performance.now();
      const base = mutant.variant.base ?? 'reference';
      if (!bases.has(base)) bases.set(base, await resolveTarget(base));
      const target = await deriveReference(mutant.variant);
      const kills: Kill[] = [];
      let k = 0;
      try {
        const { judge, arb } = await judgeOn(target, budget.maxCalls);
        const reference = await oracleJudge(bases.get(base)!);
        const deadline = budget.seconds === null ? Infinity : Date.now() + budget.seconds * 1000;
        for (; (budget.seconds !== null || k < budget.runs) && Date.now() < deadline && !signal?.aborted; k++) {
          // a model answers without I/O: give the signal handlers their turn
          await new Promise((resolve) => setImmediate(resolve));
          const [seq] = fc.sample(arb, { seed: budget.seed + k, numRuns: 1 }) as [Call[]];
          const broken = await judge(seq);
          if (broken.length === 0) continue;
          // the reference keeps the promise on the same calls, or the oracle is what is wrong
          const kept = await reference(seq);
          const oracles = [...new Set(broken.map((v) => v.oracle))].filter((o) => !kept.some((v) => v.oracle === o));
          if (oracles.length === 0) throw new Error(`the reference breaks ${kept[0]!.oracle} too on sequence ${k} (seed ${budget.seed + k}): ${kept[0]!.detail}`);
          kills.push(...oracles.map((o): Kill => ({ suite: 'fuzz', name: `${o} (sequence ${k}, seed ${budget.seed + k})`, base: 'pass', mutant: 'fail' })));
          break;
        }
      } finally {
        await target.close();
      }
      const seconds = (performance.now() - started) / 1000;
      outcomes.push({ mutant, base, kills, seconds });
      options.progress(`[${i + 1}/${mutants.length}] ${mutant.id} (${mutant.ref}): ${kills.length ? `killed by ${kills.map((x) => x.name).join(', ')}` : `SURVIVED ${k} sequences`} in ${seconds.toFixed(1)} s`);
    }
  } finally {
    for (const t of bases.values()) await t.close();
  }
  return { suites: ['fuzz'], outcomes, unexpressed, planned: mutants.length, interrupted: signal?.aborted ? interruptSignal(signal) : null };
}
