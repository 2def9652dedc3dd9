// `mmconform report`: merged runs as one report. First the suites by the
// targets (each cell the suite's verdict and its results' counts), then
// the rows where targets disagree, what the walks and calls showed, and
// every suite result by result, with each skip's reason. Text for a
// terminal, one HTML page, and JSON in compare's shape (report.ts reads it
// back, so reports merge further).

import { callComparisonText } from '../harness/calls/compare.ts';
import { differencesText } from '../harness/descriptors/compare.ts';
import type { KsftResult, ResultStatus } from '../harness/ksft.ts';
import type { RunReport, SuiteReport } from '../harness/runner.ts';
import { compareJson, compareMatrix, EXIT_ROW, rowName, rowResult, type CompareMatrix, type CompareRow, type CompareSections } from './compare.ts';
import { escapeHtml, TABLE_STYLE } from './html.ts';
import { suiteOrder } from './merge.ts';

export interface Report {
  readonly reports: readonly RunReport[];
  readonly matrix: CompareMatrix;
  readonly sections: CompareSections;
}

export function report(reports: readonly RunReport[], sections: CompareSections): Report {
  return { reports, matrix: compareMatrix(reports, { onlyWhereRun: true }), sections };
}

/** Every suite any run ran, in the order `mmconform list` gives. */
const suiteNames = (r: Report): string[] => [...new Set(r.reports.flatMap((x) => x.suites.map((s) => s.name)))].sort((a, b) => suiteOrder(a) - suiteOrder(b));

const STATUSES: readonly ResultStatus[] = ['pass', 'fail', 'error', 'skip', 'xfail'];

/** "16 pass, 2 skip": a suite's results counted by status */
function counts(s: SuiteReport): string {
  const n = (st: ResultStatus) => s.results.filter((r) => r.status === st).length;
  const parts = STATUSES.filter((st) => n(st) > 0).map((st) => `${n(st)} ${st}`);
  return parts.length ? parts.join(', ') : 'no results';
}

/** Is all well: no result or suite failed or errored, every row agrees, no walk or call differs. */
export function reportPasses(r: Report): boolean {
  const bad = (st: ResultStatus) => st === 'fail' || st === 'error';
  const failed = r.reports.some((x) => x.interrupted !== null || x.suites.some((s) => bad(s.exit.status) || s.results.some((res) => bad(res.status))));
  const differ = (r.sections.descriptors ?? []).some((d) => d.differences.count > 0) || (r.sections.calls ?? []).some((c) => c.comparison.differences.length > 0);
  return !failed && !differ && (r.reports.length < 2 || r.matrix.disagreements === 0);
}

function verdict(r: Report): string {
  const results = r.reports.reduce((n, x) => n + x.suites.reduce((m, s) => m + s.results.length, 0), 0);
  const failed = r.reports.flatMap((x) => x.suites.filter((s) => s.exit.status === 'fail' || s.exit.status === 'error').map((s) => `${s.name} on ${x.target.name}`));
  const parts = [
    `${r.reports.length} target(s), ${suiteNames(r).length} suite(s), ${results} results`,
    failed.length ? `failed: ${failed.join(', ')}` : 'no suite failed',
    ...(r.reports.length > 1 ? [r.matrix.disagreements ? `${r.matrix.disagreements} of ${r.matrix.rows.length} rows disagree` : `all ${r.matrix.rows.length} rows agree`] : []),
    ...r.reports.filter((x) => x.interrupted).map((x) => `${x.target.name} stopped by ${x.interrupted}`),
    ...(r.sections.descriptors ?? []).map((d) => (d.differences.count ? `${d.differences.count} descriptor difference(s), ${d.against.join('/')}` : `descriptors agree at every step, ${d.against.join('/')}`)),
    ...(r.sections.calls ?? []).map((c) => (c.comparison.differences.length ? `calls differ in ${c.comparison.differences.length} suite(s), ${c.against.join('/')}` : `all ${c.comparison.calls} calls equal, ${c.against.join('/')}`)),
  ];
  return `${parts.join('; ')}.`;
}

/** What the walks and the calls showed, as compare prints it. */
const sectionTexts = (r: Report): { title: string; text: string }[] => [
  ...(r.sections.descriptors ?? []).map((d) => ({ title: `Descriptors, ${d.against.join(' against ')}`, text: differencesText(d.differences, d.against) })),
  ...(r.sections.calls ?? []).map((c) => ({ title: `Calls, ${c.against.join(' against ')}`, text: callComparisonText(c.comparison, c.against) })),
];

/** the disagreeing rows text shows; HTML shows all */
const TEXT_ROWS = 20;

export function reportText(r: Report): string {
  const names = r.reports.map((x) => x.target.name);
  const suites = suiteNames(r);
  const cells = suites.map((name) => r.reports.map((x) => {
    const s = x.suites.find((y) => y.name === name);
    return s ? `${s.exit.status} (${counts(s)})` : 'not run';
  }));
  const widths = names.map((n, i) => Math.max(n.length, ...cells.map((c) => c[i]!.length)));
  const suiteWidth = Math.max(5, ...suites.map((s) => s.length));
  const head = `${'suite'.padEnd(suiteWidth)}  ${names.map((n, i) => n.padEnd(widths[i]!)).join('  ')}`;
  const lines = [head.trimEnd(), '-'.repeat(head.length), ...suites.map((s, k) => `${s.padEnd(suiteWidth)}  ${cells[k]!.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd())];
  const differ = r.reports.length > 1 ? r.matrix.rows.filter((row) => !row.agree) : [];
  if (differ.length) {
    const shown = differ.slice(0, TEXT_ROWS).map((row) => `  ${row.suite}: ${rowName(row)}: ${row.cells.map((c, i) => `${names[i]} ${r.reports[i]!.suites.some((x) => x.name === row.suite) ? c : 'not run'}`).join(', ')}`);
    lines.push('', 'where the targets disagree:', ...shown, ...(differ.length > TEXT_ROWS ? [`  and ${differ.length - TEXT_ROWS} more rows (all of them in --html)`] : []));
  }
  lines.push('', verdict(r));
  return `${lines.join('\n')}\n${sectionTexts(r).map((s) => s.text).join('')}`;
}

export const reportJson = (r: Report): string => compareJson(r.matrix, r.sections);

/** A row's result on one target, with its reason (a skip's, an error's), as a cell. */
function resultCell(x: RunReport, row: CompareRow): string {
  const s = x.suites.find((y) => y.name === row.suite);
  if (!s) return '<td class="s-absent">not run</td>';
  const res: Pick<KsftResult, 'status' | 'reason'> | null = row.name === EXIT_ROW ? { status: s.exit.status, reason: s.exit.reason } : rowResult(s, row.name, row.occurrence);
  if (!res) return '<td class="s-absent">absent</td>';
  const reason = res.reason ? `<div class="reason">${escapeHtml(res.reason)}</div>` : '';
  return `<td class="s-${res.status}">${res.status}${reason}</td>`;
}

export function reportHtml(r: Report): string {
  const th = r.reports.map((x) => `<th title="${escapeHtml(`${x.target.arch}, layout ${x.target.layout ?? 'real'}, kernel ${x.target.kernel}`)}">${escapeHtml(x.target.name)}</th>`).join('');
  const suites = suiteNames(r);
  const grid = suites
    .map((name) => {
      const tds = r.reports
        .map((x) => {
          const s = x.suites.find((y) => y.name === name);
          if (!s) return '<td class="s-absent">not run</td>';
          const why = s.exit.reason ? ` title="${escapeHtml(s.exit.reason)}"` : '';
          return `<td class="s-${s.exit.status}"${why}><b>${s.exit.status}</b> ${escapeHtml(counts(s))}</td>`;
        })
        .join('');
      return `<tr><td class="name"><a href="#suite-${escapeHtml(name)}">${escapeHtml(name)}</a></td>${tds}</tr>`;
    })
    .join('\n');
  const rowHtml = (row: CompareRow, label = rowName(row)) => `<tr class="${row.agree ? 'agree' : 'differ'}"><td class="name">${escapeHtml(label)}</td>${r.reports.map((x) => resultCell(x, row)).join('')}</tr>`;
  const differ = r.reports.length > 1 ? r.matrix.rows.filter((row) => !row.agree) : [];
  const disagreements = differ.length
    ? `<h2 id="disagreements">Where the targets disagree</h2>\n<table><thead><tr><th>result</th>${th}</tr></thead><tbody>\n${differ.map((row) => rowHtml(row, `${row.suite}: ${rowName(row)}`)).join('\n')}\n</tbody></table>`
    : '';
  const sections = sectionTexts(r)
    .map((s) => `<h2>${escapeHtml(s.title)}</h2>\n<pre>${escapeHtml(s.text)}</pre>`)
    .join('\n');
  const details = suites
    .map((name) => {
      // the suite's rows in the order its runs printed them, the exit last
      const rows = r.matrix.rows.filter((row) => row.suite === name);
      const ordered = [...rows.filter((row) => row.name !== EXIT_ROW), ...rows.filter((row) => row.name === EXIT_ROW)];
      return `<h3 id="suite-${escapeHtml(name)}">${escapeHtml(name)}</h3>\n<table><thead><tr><th>result</th>${th}</tr></thead><tbody>\n${ordered.map((row) => rowHtml(row)).join('\n')}\n</tbody></table>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mmconform report</title>
<style>
${TABLE_STYLE}.matrix td { min-width: 9em; }
.reason { font-size: 11px; color: #4b5563; max-width: 40em; }
pre { white-space: pre-wrap; }
</style></head><body>
<h1>mmconform report</h1>
<p class="verdict">${escapeHtml(verdict(r))}</p>
<h2>Suites by targets</h2>
<table class="matrix"><thead><tr><th>suite</th>${th}</tr></thead><tbody>
${grid}
</tbody></table>
${disagreements}
${sections}
<h2>Each suite, result by result</h2>
${details}
</body></html>
`;
}
