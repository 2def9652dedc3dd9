// The layout report as one self-contained HTML page: per state a 64-cell
// row drawn as the Arm ARM draws descriptors (bit 63 on the left), fields
// merged into labelled spans and coloured by kind, the verdict on top.

import { escapeHtml } from './html.ts';
import { STATES, type EntryState } from '../model/arm64/layout-states.ts';
import { STATE_TITLES, bitGroups, bitList, verdict, type BitGroup, type BitKind, type LayoutView } from './layout-groups.ts';

const KIND_LEGEND: readonly [BitKind, string][] = [
  ['hardware', 'hardware field'],
  ['software', 'Linux software bit'],
  ['swap-type', 'swap type'],
  ['swap-offset', 'swap offset / payload'],
  ['zero', 'must be 0 (read by pte_present)'],
  ['free', 'free'],
  ['unused', 'unused in this entry type'],
  ['collision', 'collision'],
];

/** Characters of 11px monospace that fit across one bit cell; a longer label in a field of up to three bits turns vertical. */
const CHARS_PER_BIT = 3;
const VERTICAL_MAX_BITS = 3;

const stripNotes = (meaning: string): string => meaning.replace(/(\s*\([^()]*\))+$/, '');

/**
 * A field's cell shows its name without the trailing "(...)" notes, which the
 * hover title keeps; a collision cell stacks the names that claim the bit.
 */
const cellLabel = (g: BitGroup): string =>
  g.kind === 'collision' ? g.bits.flatMap((b) => b.meanings.map(stripNotes)).join('\n') : stripNotes(g.label);

const bitMeaning = (meanings: readonly string[], kind: BitKind): string => (meanings.length === 0 ? kind : meanings.join(' | '));

function groupTitle(g: BitGroup): string {
  const where = g.hi === g.lo ? `bit ${g.hi}` : `bits ${g.hi}..${g.lo}`;
  return `${where}: ${g.label}`;
}

function fieldCell(g: BitGroup): string {
  const span = g.hi - g.lo + 1;
  const label = cellLabel(g);
  const vertical = span <= VERTICAL_MAX_BITS && label.split('\n').some((l) => l.length > span * CHARS_PER_BIT) ? ' v' : '';
  return `<div class="f k-${g.kind}${vertical}" style="grid-column: span ${span}" title="${escapeHtml(groupTitle(g))}"><span>${escapeHtml(label)}</span></div>`;
}

function stateRow(view: LayoutView, state: EntryState): string {
  const groups = bitGroups(view.report, state);
  // Bit numbers on top, one cell per bit, so the hover shows each bit's own meaning.
  const numbers = groups.flatMap((g) =>
    g.bits.map((b) => `<div class="n k-${g.kind}" title="${escapeHtml(`bit ${b.bit}: ${bitMeaning(b.meanings, g.kind)}`)}">${b.bit}</div>`),
  );
  const free = view.report.free[state];
  const collisions = view.report.collisions.filter((c) => c.state === state);
  const notes = [
    `<span class="free-note">free: ${free.length > 0 ? escapeHtml(bitList(free)) : 'none'}</span>`,
    ...collisions.map((c) => `<span class="coll-note">!! bit ${c.bit}: ${escapeHtml(c.meanings.join(' | '))}</span>`),
  ];
  return `<div class="state">
<h3>${escapeHtml(state)} <small>${escapeHtml(STATE_TITLES[state])}</small></h3>
<div class="row">${numbers.join('')}${groups.map(fieldCell).join('')}</div>
<p class="notes">${notes.join(' ')}</p>
</div>`;
}

/** A clean verdict names its layout; a collision verdict gets the name put in front, for pages of several layouts. */
function verdictBox({ report }: LayoutView): string {
  const clean = report.collisions.length === 0;
  const text = clean ? verdict(report) : `${report.layout}: ${verdict(report)}`;
  return `<p class="verdict ${clean ? 'clean' : 'bad'}">${escapeHtml(text)}</p>`;
}

function layoutSection(view: LayoutView): string {
  const { layout } = view;
  return `<section>
<h2>layout <code>${escapeHtml(layout.name)}</code></h2>
<p class="desc">${escapeHtml(layout.description)}</p>
${STATES.map((s) => stateRow(view, s)).join('\n')}
</section>`;
}

const legend = (): string =>
  `<p class="legend">${KIND_LEGEND.map(([k, text]) => `<span><i class="k-${k}"></i>${escapeHtml(text)}</span>`).join('')}</p>`;

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2430; background: #fafbfc; margin: 24px; }
main { max-width: 1320px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 28px 0 2px; }
h3 { font-size: 14px; margin: 18px 0 4px; font-family: ui-monospace, monospace; }
h3 small { font-family: system-ui, sans-serif; font-weight: normal; color: #5b6372; margin-left: 6px; }
code { font-family: ui-monospace, monospace; }
.desc { margin: 0; color: #4a5160; }
.verdict { margin: 6px 0; padding: 9px 14px; border-radius: 6px; border: 1px solid; }
.verdict.clean { background: #e7f8ec; border-color: #34b857; color: #14532d; }
.verdict.bad { background: #fde9e9; border-color: #e5484d; color: #7f1d1d; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 14px 0 0; font-size: 13px; }
.legend i { display: inline-block; width: 14px; height: 14px; border: 1px solid #8a93a3; vertical-align: -2px; margin-right: 6px; border-radius: 2px; }
.row { display: grid; grid-template-columns: repeat(64, 1fr); gap: 1px; background: #8a93a3; border: 1px solid #8a93a3; }
.n { font: 10px/16px ui-monospace, monospace; text-align: center; color: #3b4250; background-image: linear-gradient(rgba(255,255,255,.6), rgba(255,255,255,.6)); }
.f { height: 150px; display: flex; align-items: center; justify-content: center; overflow: hidden; padding: 3px 2px;
     font: 11px/1.25 ui-monospace, monospace; text-align: center; overflow-wrap: anywhere; }
.f.v span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-height: 144px; }
.f.k-collision { padding: 3px 0; }
.f.k-collision span { white-space: pre; font-size: 9px; line-height: 9px; }
.k-hardware { background-color: #dbe5f1; }
.k-software { background-color: #ffd47a; font-weight: 600; }
.k-swap-type { background-color: #dccbf5; }
.k-swap-offset { background-color: #c7ebe0; }
.k-zero { background: repeating-linear-gradient(135deg, #ececec 0 4px, #d6d6d6 4px 8px); color: #555; }
.k-free { background-color: #22c55e; color: #fff; font-weight: 700; }
.k-unused { background-color: #f4f5f7; color: #8a93a3; }
.k-collision { background-color: #dc2626; color: #fff; font-weight: 700; }
.notes { margin: 4px 0 0; font-size: 13px; }
.free-note { color: #15803d; font-weight: 600; margin-right: 16px; }
.coll-note { color: #b91c1c; font-weight: 600; margin-right: 16px; }
`;

export function layoutsHtml(views: readonly LayoutView[]): string {
  const names = views.map((v) => v.layout.name).join(', ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mmconform layout: ${escapeHtml(names)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>PTE layout${views.length > 1 ? 's' : ''}: ${escapeHtml(names)}</h1>
${views.map(verdictBox).join('\n')}
${legend()}
${views.map(layoutSection).join('\n')}
</main>
</body>
</html>
`;
}
