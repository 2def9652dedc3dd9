// `mmconform compare`: the same suites on several targets as one matrix, a
// row per result (and per suite's exit), a column per target, the rows where
// targets disagree first. Text for a terminal, JSON, and an HTML table.

import { callComparisonText, type CallComparison } from '../harness/calls/compare.ts';
import { differencesText, type DifferenceSummary } from '../harness/descriptors/compare.ts';
import type { KsftResult, ResultStatus } from '../harness/ksft.ts';
import type { RunReport, SuiteReport, TargetSummary } from '../harness/runner.ts';
import { escapeHtml, TABLE_STYLE } from './html.ts';
import { resultsJson } from './results-json.ts';

/** What --descriptors and --calls found, each pairing of the first target with another; and the runs themselves. */
export interface CompareSections {
  /** each target's run whole (skip reasons, timings), in the JSON for mmconform report to merge */
  readonly runs?: readonly RunReport[];
  readonly descriptors?: readonly { readonly against: readonly [string, string]; readonly differences: DifferenceSummary }[];
  readonly calls?: readonly { readonly against: readonly [string, string]; readonly comparison: CallComparison }[];
}

/** Every row, every walk and every call alike. */
export function allAgree(m: CompareMatrix, sections: CompareSections): boolean {
  return m.disagreements === 0 && (sections.descriptors ?? []).every((d) => d.differences.count === 0) && (sections.calls ?? []).every((c) => c.comparison.differences.length === 0);
}

/** A target that did not print a result at all (its program ended before it, or skipped as a whole). */
export type Cell = ResultStatus | 'absent';

export interface CompareRow {
  readonly suite: string;
  /** the result's name as printed, or "(exit)" for how the program ended */
  readonly name: string;
  /** which of the suite's results of that name (0 for the first): a C selftest may print a name twice; numbers in names are not told apart */
  readonly occurrence: number;
  readonly cells: readonly Cell[];
  readonly agree: boolean;
}

export interface CompareMatrix {
  readonly targets: readonly TargetSummary[];
  readonly rows: readonly CompareRow[];
  readonly disagreements: number;
}

export const EXIT_ROW = '(exit)';

/**
 * A result's name with the numbers it prints masked: a C selftest may put
 * values in a name (pagemap_ioctl's "transact_test Extra pages 3 (0.0%)"),
 * and how a kernel's threads were scheduled changes them from run to run.
 * Results are matched by this key; the status is what compares.
 */
const nameKey = (name: string): string => name.replace(/\d+(\.\d+)?/g, '#');

/** Each result of a suite with how many of the same name key came before it. */
function occurrences(results: readonly { readonly name: string }[]): number[] {
  const count = new Map<string, number>();
  return results.map((r) => {
    const k = nameKey(r.name);
    const n = count.get(k) ?? 0;
    count.set(k, n + 1);
    return n;
  });
}

/** A suite's result that a row stands for: its name (numbers masked) and which of that name it is. */
export function rowResult(s: SuiteReport, name: string, occurrence: number): KsftResult | null {
  const nth = occurrences(s.results);
  return s.results.find((x, i) => nameKey(x.name) === nameKey(name) && nth[i] === occurrence) ?? null;
}

/**
 * The rows of every result any target printed. With `onlyWhereRun`
 * (merged runs of different suites), a row's agreement counts only the
 * targets that ran its suite.
 */
export function compareMatrix(reports: readonly RunReport[], { onlyWhereRun = false } = {}): CompareMatrix {
  // Rows in the order they first appear in any target's run, named as that run printed them;
  // a name printed twice is two rows.
  const keys: [string, string, number][] = [];
  const seen = new Set<string>();
  const add = (suite: string, name: string, occurrence: number) => {
    const k = `${suite}\u0000${nameKey(name)}\u0000${occurrence}`;
    if (!seen.has(k)) {
      seen.add(k);
      keys.push([suite, name, occurrence]);
    }
  };
  for (const r of reports)
    for (const s of r.suites) {
      add(s.name, EXIT_ROW, 0);
      const nth = occurrences(s.results);
      for (const [i, res] of s.results.entries()) add(s.name, res.name, nth[i]!);
    }
  const cell = (r: RunReport, suite: string, name: string, occurrence: number): Cell => {
    const s = r.suites.find((x) => x.name === suite);
    if (!s) return 'absent';
    if (name === EXIT_ROW) return s.exit.status;
    return rowResult(s, name, occurrence)?.status ?? 'absent';
  };
  const rows = keys.map(([suite, name, occurrence]): CompareRow => {
    const cells = reports.map((r) => cell(r, suite, name, occurrence));
    const counted = onlyWhereRun ? cells.filter((_, i) => reports[i]!.suites.some((s) => s.name === suite)) : cells;
    return { suite, name, occurrence, cells, agree: counted.every((c) => c === counted[0]) };
  });
  const ordered = [...rows.filter((r) => !r.agree), ...rows.filter((r) => r.agree)];
  return { targets: reports.map((r) => r.target), rows: ordered, disagreements: ordered.filter((r) => !r.agree).length };
}

const label = (t: TargetSummary): string => t.name;
/** A row's name as a reader tells it apart: the second of a name printed twice marked (2) */
export const rowName = (r: CompareRow): string => (r.occurrence ? `${r.name} (${r.occurrence + 1})` : r.name);

export function compareText(m: CompareMatrix, sections: CompareSections = {}): string {
  const widths = m.targets.map((t) => Math.max(label(t).length, 6));
  const head = `${m.targets.map((t, i) => label(t).padEnd(widths[i]!)).join('  ')}  result`;
  const lines = [head, '-'.repeat(head.length)];
  for (const r of m.rows) {
    const cells = r.cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    lines.push(`${cells}  ${r.agree ? ' ' : '!'} ${r.suite}: ${rowName(r)}`);
  }
  lines.push('', m.disagreements === 0 ? `all ${m.rows.length} rows agree` : `${m.disagreements} of ${m.rows.length} rows disagree`);
  const rest = [
    ...(sections.descriptors ?? []).map((d) => differencesText(d.differences, d.against)),
    ...(sections.calls ?? []).map((c) => callComparisonText(c.comparison, c.against)),
  ];
  return `${lines.join('\n')}\n${rest.join('')}`;
}

export function compareJson(m: CompareMatrix, sections: CompareSections = {}): string {
  const names = m.targets.map(label);
  const rows = m.rows.map((r) => ({ suite: r.suite, name: r.name, occurrence: r.occurrence, agree: r.agree, status: Object.fromEntries(names.map((n, i) => [n, r.cells[i]])) }));
  const descriptors = sections.descriptors?.map((d) => ({
    against: d.against,
    differences: d.differences.count,
    kinds: d.differences.kinds.map((k) => ({ level: k.level, bits: k.bits, walk: k.walk, count: k.count, first: k.first })),
  }));
  const calls = sections.calls?.map((c) => ({
    against: c.against,
    calls: c.comparison.calls,
    differences: c.comparison.differences,
    named: Object.fromEntries(c.comparison.named),
  }));
  const runs = sections.runs?.map(resultsJson);
  const doc = { targets: m.targets, agree: allAgree(m, sections), disagreements: m.disagreements, rows, ...(descriptors ? { descriptors } : {}), ...(calls ? { calls } : {}), ...(runs ? { runs } : {}) };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function compareHtml(m: CompareMatrix, sections: CompareSections = {}): string {
  const th = m.targets.map((t) => `<th title="${escapeHtml(`${t.arch}, layout ${t.layout ?? 'real'}, kernel ${t.kernel}`)}">${escapeHtml(label(t))}</th>`).join('');
  const rows = m.rows
    .map((r) => {
      const tds = r.cells.map((c) => `<td class="s-${c}">${c}</td>`).join('');
      return `<tr class="${r.agree ? 'agree' : 'differ'}">${tds}<td class="name">${escapeHtml(r.suite)}: ${escapeHtml(rowName(r))}</td></tr>`;
    })
    .join('\n');
  const rowsVerdict = m.disagreements === 0 ? `All ${m.rows.length} rows agree` : `${m.disagreements} of ${m.rows.length} rows disagree; they come first`;
  const others = [
    ...(sections.descriptors ?? []).map((d) => (d.differences.count ? `${d.differences.count} descriptor difference(s), ${d.against.join('/')}` : `descriptors agree at every step, ${d.against.join('/')}`)),
    ...(sections.calls ?? []).map((c) => (c.comparison.differences.length ? `calls differ in ${c.comparison.differences.length} suite(s), ${c.against.join('/')}` : `all ${c.comparison.calls} calls equal, ${c.against.join('/')}`)),
  ];
  const verdict = `${[rowsVerdict, ...others].join('; ')}.`;
  const details = [
    ...(sections.descriptors ?? []).filter((d) => d.differences.count).map((d) => `<h2>Descriptors, ${escapeHtml(d.against.join(' against '))}</h2>\n<pre>${escapeHtml(differencesText(d.differences, d.against))}</pre>`),
    ...(sections.calls ?? []).filter((c) => c.comparison.differences.length).map((c) => `<h2>Calls, ${escapeHtml(c.against.join(' against '))}</h2>\n<pre>${escapeHtml(callComparisonText(c.comparison, c.against))}</pre>`),
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mmconform compare</title>
<style>
${TABLE_STYLE}</style></head><body>
<h1>mmconform compare</h1>
<p>${escapeHtml(verdict)}</p>
${details}
<table><thead><tr>${th}<th>result</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>
`;
}
