// `mmconform mutants` as text, JSON and HTML: each mutant, the bug it puts
// back, the results that kill it; the kill rate; and the bugs not yet
// expressed, with what each needs.

import type { MutantsReport } from '../mutants/run.ts';
import { escapeHtml } from './html.ts';

function counts(r: MutantsReport): { killed: number; run: number; never: number } {
  return {
    killed: r.outcomes.filter((o) => o.kills.length > 0).length,
    run: r.outcomes.length,
    never: r.unexpressed.filter((u) => u.never && !u.followUpOf).length,
  };
}

/** One line of totals: "5 of 5 mutants killed (100%) by ...". */
export function mutantsSummary(r: MutantsReport): string {
  const { killed, run, never } = counts(r);
  const rate = run ? ` (${Math.round((100 * killed) / run)}%)` : '';
  const stopped = r.interrupted ? `; stopped by ${r.interrupted} after ${run} of ${r.planned}` : '';
  const bugs = r.unexpressed.filter((u) => !u.followUpOf).length;
  const followUps = r.unexpressed.length - bugs;
  const more = followUps ? ` (and ${followUps} follow-up fix${followUps > 1 ? 'es' : ''})` : '';
  return `${killed} of ${run} mutants killed${rate} by ${r.suites.join(', ')}${stopped}; ${bugs} bugs not expressed${more}, ${never} of them never expressible`;
}

export function mutantsText(r: MutantsReport): string {
  const lines: string[] = [];
  for (const o of r.outcomes) {
    const m = o.mutant;
    lines.push(`${m.ref} ${m.id} on ${o.base}: ${o.kills.length ? 'killed' : 'SURVIVED'}`);
    lines.push(`  bug:     ${m.fix}`);
    lines.push(`  planted: ${m.planted}`);
    for (const k of o.kills) lines.push(`  killed by ${k.suite}: ${k.name} (${k.base} -> ${k.mutant})`);
  }
  if (r.unexpressed.length) {
    lines.push('', 'not expressed:');
    for (const u of r.unexpressed) lines.push(`  ${u.ref} ${u.id}${u.followUpOf ? ` (follow-up of ${u.followUpOf})` : ''}${u.never ? ' (never)' : ''}: needs ${u.needs}`);
  }
  lines.push('', mutantsSummary(r));
  return `${lines.join('\n')}\n`;
}

export function mutantsJson(r: MutantsReport): string {
  const { killed, run } = counts(r);
  return `${JSON.stringify(
    {
      suites: r.suites,
      killed,
      run,
      planned: r.planned,
      interrupted: r.interrupted,
      mutants: r.outcomes.map((o) => ({
        id: o.mutant.id,
        ref: o.mutant.ref,
        fix: o.mutant.fix,
        planted: o.mutant.planted,
        base: o.base,
        killed: o.kills.length > 0,
        kills: o.kills,
        seconds: Number(o.seconds.toFixed(2)),
      })),
      unexpressed: r.unexpressed.map((u) => ({ id: u.id, ref: u.ref, fix: u.fix, needs: u.needs, never: u.never === true, ...(u.followUpOf ? { followUpOf: u.followUpOf } : {}) })),
    },
    null,
    2,
  )}\n`;
}

export function mutantsHtml(r: MutantsReport): string {
  const e = escapeHtml;
  const rows = r.outcomes.map((o) => {
    const m = o.mutant;
    const kills = o.kills.length ? `<ul>${o.kills.map((k) => `<li>${e(k.suite)}: ${e(k.name)} <small>(${e(k.base)} &rarr; ${e(k.mutant)})</small></li>`).join('')}</ul>` : '<strong>survived</strong>';
    return `<tr class="${o.kills.length ? 'killed' : 'survived'}"><td>${e(m.ref)}</td><td><code>${e(m.id)}</code></td><td>${e(m.fix)}<br><small>${e(m.planted)}</small></td><td>${e(o.base)}</td><td>${kills}</td></tr>`;
  });
  const rest = r.unexpressed.map((u) => `<tr><td>${e(u.ref)}</td><td><code>${e(u.id)}</code></td><td>${e(u.fix)}</td><td>${u.never ? 'never' : 'not yet'}</td><td>${e(u.needs)}</td></tr>`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>mmconform mutants</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}.killed{background:#e8f5e9}.survived{background:#ffebee}</style>
</head><body>
<h1>mmconform mutants</h1>
<p>${e(mutantsSummary(r))}</p>
<table><tr><th>bug</th><th>id</th><th>fix, and the bug as planted</th><th>base</th><th>killed by</th></tr>
${rows.join('\n')}
</table>
<h2>Not expressed</h2>
<table><tr><th>bug</th><th>id</th><th>fix</th><th></th><th>needs</th></tr>
${rest.join('\n')}
</table>
</body></html>
`;
}
