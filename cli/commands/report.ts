// `mmconform report`: results files of several runs, targets or shards
// (run --json, compare --json, report --json) merged into one report: the
// suites by the targets, where they disagree, each result with its skip
// reason, and what compare's --descriptors and --calls found. Exit status 0
// when no result failed and the targets agree, 1 otherwise, 2 on bad input.

import { readFile } from 'node:fs/promises';
import { UsageError, checkOutputFiles, oneLineMessage, parseCommandArgs, writeOutputFiles, type Command } from '../../harness/command.ts';
import { junitXml } from '../../reports/junit.ts';
import { mergeResults, type ResultsFile } from '../../reports/merge.ts';
import { report, reportHtml, reportJson, reportPasses, reportText } from '../../reports/report.ts';
import { planReports, REPORT_OPTIONS, REPORT_USAGE } from '../report-outputs.ts';

const FORMATS = { text: reportText, json: reportJson, html: reportHtml } as const;

export const reportCommand: Command = {
  name: 'report',
  summary: 'merge results files of several runs, targets or shards into one report: HTML, JUnit, JSON, text',
  usage: [
    'mmconform report FILE... [--format text|json|html] [--output FILE] [--json FILE] [--html FILE] [--junit FILE]',
    '  FILE           a results file: run --json, compare --json or report --json; the shards of one target\'s',
    '                 run (--shard i/n) become one run, each suite from one file',
    ...REPORT_USAGE,
    '  --junit FILE   also write every result as JUnit XML to FILE',
    '  exit status: 0 no result failed and the targets agree, 1 otherwise, 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('report', argv, {
      options: { ...REPORT_OPTIONS, junit: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length === 0) throw new UsageError('report: name one or more results files (run --json, compare --json or report --json)');
    const plan = await planReports('report', values);
    await checkOutputFiles('report', [['--junit', values.junit]]);
    const files: ResultsFile[] = [];
    for (const file of positionals) {
      const text = await readFile(file, 'utf8').catch((e: unknown) => {
        throw new UsageError(`report: ${file}: ${oneLineMessage(e)}`);
      });
      files.push({ file, text });
    }
    let merged;
    try {
      merged = mergeResults(files);
    } catch (e) {
      throw new UsageError(`report: ${oneLineMessage(e)}`);
    }
    const r = report(merged.reports, merged.sections);
    await plan.write(io, (f) => FORMATS[f](r));
    await writeOutputFiles('report', [[values.junit, () => junitXml(r.reports)]]);
    const written = [...plan.files, ...(values.junit ? [values.junit] : [])];
    const ok = reportPasses(r);
    if (written.length) io.stderr(`mmconform: report of ${positionals.length} file(s) written to ${written.join(', ')}: ${ok ? 'all well' : 'a failure or a disagreement'}\n`);
    return ok ? 0 : 1;
  },
};
