// `mmconform layout`: what each descriptor bit means in each entry state
// under one or more layouts, which bits are free, and what collides.
// Exit status 0 when clean, 1 when any layout has a collision.

import { BUILTIN_LAYOUTS, DEFAULT_LAYOUT } from '../../model/arm64/layout.ts';
import { layoutReport } from '../../model/arm64/layout-states.ts';
import type { LayoutView } from '../../reports/layout-groups.ts';
import { layoutsHtml } from '../../reports/layout-html.ts';
import { layoutsJson } from '../../reports/layout-json.ts';
import { layoutsText } from '../../reports/layout-text.ts';
import { parseCommandArgs, type Command } from '../../harness/command.ts';
import { planReports, REPORT_OPTIONS, REPORT_USAGE, type ReportFormat } from '../report-outputs.ts';
import { resolveLayout } from '../../harness/layout-file.ts';

const FORMATS: Readonly<Record<ReportFormat, (views: readonly LayoutView[]) => string>> = { text: layoutsText, json: layoutsJson, html: layoutsHtml };

export const layoutCommand: Command = {
  name: 'layout',
  summary: 'show the PTE bits of a layout per entry state, its free bits and collisions',
  usage: [
    'mmconform layout [--layout NAME|FILE]... [--format text|json|html] [--output FILE] [--json FILE] [--html FILE]',
    `  --layout   a built-in layout (${[...BUILTIN_LAYOUTS.keys()].join(', ')}; default ${DEFAULT_LAYOUT.name}) or a .json/.ts/.js/.mjs`,
    '             layout file; repeat to show several',
    ...REPORT_USAGE,
    '  exit status: 0 no collision, 1 a collision, 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('layout', argv, {
      options: {
        layout: { type: 'string', multiple: true },
        ...REPORT_OPTIONS,
      },
      strict: true,
      allowPositionals: false,
    });
    const plan = await planReports('layout', values);
    const specs = values.layout ?? [DEFAULT_LAYOUT.name];
    const views: LayoutView[] = [];
    for (const spec of specs) {
      const layout = await resolveLayout(spec);
      views.push({ layout, report: layoutReport(layout) });
    }
    await plan.write(io, (f) => FORMATS[f](views));
    return views.some((v) => v.report.collisions.length > 0) ? 1 : 0;
  },
};
