// The layout report for a terminal: per state a table of fields from bit 63
// down to 0, the free bits, the collisions, and a last line with the verdict.

import { STATES } from '../model/arm64/layout-states.ts';
import { STATE_TITLES, bitGroups, bitList, verdict, type LayoutView } from './layout-groups.ts';

const BITS_WIDTH = 8; // "63..62" plus a gap

function layoutText({ layout, report }: LayoutView): string {
  const lines = [`layout ${layout.name}${layout.description ? `: ${layout.description}` : ''}`];
  for (const state of STATES) {
    lines.push('', `${state}: ${STATE_TITLES[state]}`);
    for (const g of bitGroups(report, state)) {
      const bits = g.hi === g.lo ? `${g.hi}` : `${g.hi}..${g.lo}`;
      lines.push(`${g.kind === 'collision' ? '!!' : '  '}  ${bits.padEnd(BITS_WIDTH)}${g.label}`);
    }
    lines.push(`    free: ${report.free[state].length > 0 ? bitList(report.free[state]) : 'none'}`);
  }
  lines.push('', report.collisions.length > 0 ? 'collisions:' : 'collisions: none');
  for (const c of report.collisions) lines.push(`!!  ${c.state} bit ${c.bit}: ${c.meanings.join(' | ')}`);
  lines.push(`verdict: ${verdict(report)}`);
  return lines.join('\n');
}

/** Layouts one after the other, a blank line between them. */
export function layoutsText(views: readonly LayoutView[]): string {
  return `${views.map(layoutText).join('\n\n')}\n`;
}
