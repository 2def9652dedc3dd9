// Where a report command (compare, layout) writes its report: the same
// options on each, and the same as `run --json FILE`. --json FILE and
// --html FILE write that format to a file, any number at once; stdout gets
// the --format report (text by default), unless --output FILE takes it
// there (in --format, or as FILE ends: .json, .html).

import { UsageError, checkOutputFiles, writeOutputFiles, type Io } from '../harness/command.ts';

export type ReportFormat = 'text' | 'json' | 'html';
const FORMATS: readonly ReportFormat[] = ['text', 'json', 'html'];

/** The options parseCommandArgs() takes for them. */
export const REPORT_OPTIONS = {
  format: { type: 'string' },
  output: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
} as const;

export const REPORT_USAGE = [
  '  --format       text, json or html: what stdout (or --output) gets (default: as --output FILE ends, .json or .html; else text)',
  '  --output FILE  write that report to FILE instead of stdout',
  '  --json FILE    also write the report as JSON to FILE (as run --json does)',
  '  --html FILE    also write the report as HTML to FILE',
];

export interface ReportValues {
  readonly format?: string | undefined;
  readonly output?: string | undefined;
  readonly json?: string | undefined;
  readonly html?: string | undefined;
}

export interface ReportPlan {
  /** writes every report once the command has rendered them; checked beforehand by planReports() */
  write(io: Io, render: (format: ReportFormat) => string): Promise<void>;
  /** every file a report goes to, for the line the command prints on stderr */
  readonly files: readonly string[];
}

/** Reads the options and checks every file they name before the command does any work. */
export async function planReports(command: string, values: ReportValues): Promise<ReportPlan> {
  const ext = /\.(json|html?)$/i.exec(values.output ?? '')?.[1]?.toLowerCase();
  const implied = ext === undefined ? undefined : ext === 'json' ? 'json' : 'html';
  const main = values.format ?? implied ?? 'text';
  if (!(FORMATS as readonly string[]).includes(main)) throw new UsageError(`${command}: --format must be ${FORMATS.join('|')}, got "${main}"`);
  await checkOutputFiles(command, [
    ['--output', values.output],
    ['--json', values.json],
    ['--html', values.html],
  ]);
  const files = [values.output, values.json, values.html].filter((f): f is string => f !== undefined);
  return {
    files,
    async write(io, render) {
      if (values.output === undefined) io.stdout(render(main as ReportFormat));
      await writeOutputFiles(command, [
        [values.output, () => render(main as ReportFormat)],
        [values.json, () => render('json')],
        [values.html, () => render('html')],
      ]);
    },
  };
}
