// Two targets' call logs compared suite by suite: where each suite's calls
// first differ (the lines after a difference usually differ because of it),
// with named version and architecture differences passed over and counted.

import type { TargetInfo } from '../target.ts';
import { namedDifference, optionalCalls } from './known-differences.ts';
import type { CallLine } from './record.ts';

export interface CallDifference {
  readonly suite: string;
  /** the call's index in the suite's log */
  readonly line: number;
  /** the test the call belongs to (the next result the suite reported), when known */
  readonly test: string | null;
  readonly a: CallLine | null;
  readonly b: CallLine | null;
  /** how many of the suite's lines differ from this one on */
  readonly after: number;
}

export interface CallComparison {
  /** calls compared, over every suite */
  readonly calls: number;
  /** the first difference of each suite that has one */
  readonly differences: readonly CallDifference[];
  /** named differences passed over, by name: how many lines */
  readonly named: ReadonlyMap<string, number>;
}

/** Two comparisons of different suites as one (shards of one comparison). */
export function mergeCallComparisons(a: CallComparison, b: CallComparison): CallComparison {
  const named = new Map(a.named);
  for (const [name, n] of b.named) named.set(name, (named.get(name) ?? 0) + n);
  return { calls: a.calls + b.calls, differences: [...a.differences, ...b.differences], named };
}

const text = (l: CallLine | undefined) => (l ? `${l.call} = ${l.outcome}` : null);

function bySuite(lines: readonly CallLine[]): Map<string, CallLine[]> {
  const m = new Map<string, CallLine[]>();
  for (const l of lines) {
    const list = m.get(l.suite) ?? [];
    list.push(l);
    m.set(l.suite, list);
  }
  return m;
}

export function compareCallLogs(
  a: readonly CallLine[],
  b: readonly CallLine[],
  info: readonly [TargetInfo, TargetInfo],
  testName: (suite: string, resultsBefore: number) => string | null = () => null,
): CallComparison {
  const differences: CallDifference[] = [];
  const named = new Map<string, number>();
  // calls a named difference lets one side make alone are left out of both logs, and counted
  const optional = optionalCalls(info[0], info[1]);
  const kept = (lines: readonly CallLine[]) =>
    lines.filter((l) => {
      const d = optional.find((o) => o.calls.test(l.call));
      if (d) named.set(d.name, (named.get(d.name) ?? 0) + 1);
      return !d;
    });
  const [x, y] = [bySuite(kept(a)), bySuite(kept(b))];
  let calls = 0;
  for (const suite of new Set([...x.keys(), ...y.keys()])) {
    const la = x.get(suite) ?? [];
    const lb = y.get(suite) ?? [];
    const n = Math.max(la.length, lb.length);
    calls += n;
    for (let i = 0; i < n; i++) {
      if (text(la[i]) === text(lb[i])) continue;
      const name = la[i] && lb[i] ? namedDifference(la[i]!, lb[i]!, info[0], info[1]) : null;
      if (name !== null) {
        named.set(name, (named.get(name) ?? 0) + 1);
        continue;
      }
      let after = 0;
      for (let j = i; j < n; j++) if (text(la[j]) !== text(lb[j])) after++;
      const at = la[i] ?? lb[i]!;
      differences.push({ suite, line: i, test: testName(suite, at.resultsBefore), a: la[i] ?? null, b: lb[i] ?? null, after });
      break;
    }
  }
  return { calls, differences, named };
}

/**
 * Two differing lines as text to read: the call and each side's outcome; of
 * an outcome of several lines (smaps), the area it is in and the first line
 * that differs.
 */
export function differenceText(a: CallLine | null, b: CallLine | null, names: readonly [string, string]): string[] {
  const call = (a ?? b)?.call ?? '(the end)';
  const x = a?.outcome.split('\n') ?? ['(no line)'];
  const y = b?.outcome.split('\n') ?? ['(no line)'];
  if (x.length === 1 && y.length === 1) return [call, `  ${names[0]}: ${x[0]}`, `  ${names[1]}: ${y[0]}`];
  let i = 0;
  while (i < Math.min(x.length, y.length) && x[i] === y[i]) i++;
  const area = x.slice(0, i + 1).reverse().find((l) => /^\S+-\S+ /.test(l));
  return [`${call}${area ? `, area ${area}` : ''}`, `  ${names[0]}: ${x[i] ?? '(no more lines)'}`, `  ${names[1]}: ${y[i] ?? '(no more lines)'}`];
}

/** The comparison as text: a line of totals, then each suite's first difference. */
export function callComparisonText(c: CallComparison, names: readonly [string, string]): string {
  const out: string[] = [];
  for (const d of c.differences) {
    out.push(`calls: ${d.suite}: differs at call ${d.line}${d.test ? ` (in "${d.test}")` : ''}, ${d.after} lines differ from there`);
    out.push(...differenceText(d.a, d.b, names).map((l) => `  ${l}`));
  }
  const namedText = [...c.named].map(([k, v]) => `${k} x${v}`).join(', ');
  out.push(`calls: ${c.calls} compared, ${c.differences.length ? `${c.differences.length} suites differ` : 'all equal'}${namedText ? `; named differences passed over: ${namedText}` : ''} (${names[0]} against ${names[1]})`);
  return `${out.join('\n')}\n`;
}
