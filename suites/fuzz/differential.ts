// Differential runs: the same sequence on two targets, their call logs
// compared line by line. A difference is judged in this order: a named
// version or architecture difference (known-differences.ts), noise (the
// kernel, given the same sequence again, does not repeat its own answer),
// placement (the model gives the kernel's whole log with mmap_base
// elsewhere, as the kernel's random layout may have put it), or a
// disagreement, which is shrunk to the fewest calls that still show it.

import type { CallLine } from '../../harness/calls/record.ts';
import type { Target, TargetInfo } from '../../harness/target.ts';
import type { Call } from './calls.ts';
import { namedDifference } from '../../harness/calls/known-differences.ts';
import { runSequence } from './sequence.ts';

export interface Side {
  readonly target: Target;
  readonly info: TargetInfo;
  /**
   * The same model with mmap_base `rnd` pages lower, as a kernel's ASLR
   * might have put it (reference+mmap_rnd=N): a kernel's answer the model
   * gives at another layout is the model's answer too.
   */
  readonly layout?: (rnd: number) => Promise<Target>;
}

/** mmap_base placements tried: every page of a PMD, since where an area lands in a PMD (THP) and in a fault-around window is what moves */
const LAYOUTS = 512;

export type Verdict =
  | { readonly kind: 'agree' }
  | { readonly kind: 'named'; readonly name: string; readonly line: number }
  | { readonly kind: 'noise'; readonly line: number }
  | { readonly kind: 'placement'; readonly line: number; readonly layout: number }
  | { readonly kind: 'differ'; readonly line: number; readonly a: CallLine | null; readonly b: CallLine | null };

export interface Outcome {
  readonly verdict: Verdict;
  readonly a: readonly CallLine[];
  readonly b: readonly CallLine[];
}

const text = (l: CallLine | undefined) => (l ? `${l.call} = ${l.outcome}` : null);

/** The first line at which two logs differ, named differences passed over; null when none is left. */
function firstDifference(a: readonly CallLine[], b: readonly CallLine[], sides: readonly [Side, Side], from = 0): { line: number; named: string | null } | null {
  let named: { line: number; named: string } | null = null;
  for (let i = from; i < Math.max(a.length, b.length); i++) {
    if (text(a[i]) === text(b[i])) continue;
    const name = a[i] && b[i] ? namedDifference(a[i]!, b[i]!, sides[0].info, sides[1].info) : null;
    if (name === null) return { line: i, named: null };
    named ??= { line: i, named: name };
  }
  return named;
}

/**
 * Runs `calls` on both sides and judges the logs; `replays`: how often the
 * second side runs again to tell noise. Four, because a kernel's address
 * space layout is random: where it puts an area decides whether a THP fits
 * in it, and an outcome that goes either way repeats four times running
 * once in sixteen.
 */
export async function differential(calls: readonly Call[], sides: readonly [Side, Side], replays = 4): Promise<Outcome> {
  const a = await runSequence(sides[0].target, calls);
  const b = await runSequence(sides[1].target, calls);
  const d = firstDifference(a, b, sides);
  if (d === null) return { verdict: { kind: 'agree' }, a, b };
  if (d.named !== null) return { verdict: { kind: 'named', name: d.named, line: d.line }, a, b };
  for (let r = 0; r < replays; r++) {
    const again = await runSequence(sides[1].target, calls);
    if (text(again[d.line]) !== text(b[d.line]) || again.slice(0, d.line).some((l, i) => text(l) !== text(b[i]))) return { verdict: { kind: 'noise', line: d.line }, a, b };
  }
  // the kernel's layout is random, the model's fixed: for areas the target placed itself,
  // does the model give the kernel's answer at another layout?
  const layout = sides[0].layout;
  if (layout && /\bM\d+\+/.test(`${text(a[d.line])} ${text(b[d.line])}`)) {
    for (let rnd = 1; rnd < LAYOUTS; rnd++) {
      const left = firstDifference(await runSequence(await layout(rnd), calls), b, sides);
      if (left === null || left.named !== null) return { verdict: { kind: 'placement', line: d.line, layout: rnd }, a, b };
    }
  }
  return { verdict: { kind: 'differ', line: d.line, a: a[d.line] ?? null, b: b[d.line] ?? null }, a, b };
}

/** The call a log line was made by: a shrunk sequence must still differ at a call of the same kind. */
const callKind = (l: CallLine | null) => (l ? l.call.replace(/\(.*$/s, '') : 'end');

/**
 * Delta debugging (ddmin, greedy): drops runs of calls, longest first, as long
 * as the sequence still differs at a call of the same kind; at most `budget` runs.
 */
export async function shrink(calls: readonly Call[], sides: readonly [Side, Side], verdict: Extract<Verdict, { kind: 'differ' }>, budget = 200): Promise<{ calls: Call[]; outcome: Outcome }> {
  const kind = callKind(verdict.a ?? verdict.b);
  let best: Call[] = [...calls];
  let bestOutcome: Outcome | null = null;
  let runs = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && runs < budget; chunk = chunk === 1 ? 0 : Math.max(1, chunk >> 1)) {
    for (let i = 0; i < best.length && runs < budget; ) {
      const candidate = [...best.slice(0, i), ...best.slice(i + chunk)];
      runs++;
      const o = await differential(candidate, sides, 1);
      if (o.verdict.kind === 'differ' && callKind(o.verdict.a ?? o.verdict.b) === kind) {
        best = candidate;
        bestOutcome = o;
      } else i += chunk;
    }
  }
  return { calls: best, outcome: bestOutcome ?? (await differential(best, sides)) };
}

