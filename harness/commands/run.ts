// `mmconform run`: the ported selftests on a target, KTAP on stdout as
// kselftest's runner prints it, progress on stderr, JSON/JUnit on request.
// Exit status 0 when every suite passed or skipped, 1 when any failed or
// errored, 128+N when signal N stopped the run (the results so far are
// still written; a closed stdout counts as SIGPIPE), 2 on bad input.

import { resultsJsonText } from '../../reports/results-json.ts';
import { junitXml } from '../../reports/junit.ts';
import { SUITES } from '../../suites/index.ts';
import { checkOutputFiles, oneLineMessage, parseCommandArgs, writeOutputFiles, type Command } from '../command.ts';
import { onInterrupt, runExitStatus, runSuites, type RunReport } from '../runner.ts';
import { findSuite, openTarget } from './select.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'run the ported selftests on a target: KTAP on stdout, JSON and JUnit on request',
  usage: [
    'mmconform run [--target NAME] [--suite NAME]... [--json FILE] [--junit FILE]',
    '  --target   what to run on (default reference; see mmconform targets)',
    `  --suite    one suite (${SUITES.map((s) => s.name).join(', ')}); repeat for several; default all`,
    '  --json     write the results as JSON to FILE',
    '  --junit    write the results as JUnit XML to FILE',
    '  exit status: 0 all passed or skipped, 1 a failure or error, 128+N stopped by signal N (SIGHUP, SIGINT,',
    '               SIGTERM; SIGPIPE when stdout is closed), the results so far written; 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('run', argv, {
      options: {
        target: { type: 'string', default: 'reference' },
        suite: { type: 'string', multiple: true },
        json: { type: 'string' },
        junit: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const suites = (values.suite ?? SUITES.map((s) => s.name)).map((n) => findSuite('run', n));
    await checkOutputFiles('run', [
      ['--json', values.json],
      ['--junit', values.junit],
    ]);
    const target = await openTarget('run', values.target);

    const interrupt = new AbortController();
    const stopListening = onInterrupt((signal) => interrupt.abort(signal));
    let report: RunReport;
    try {
      report = await runSuites(target, values.target, suites, { stdout: io.stdout, stderr: io.stderr, colour: io.colourStderr === true, signal: interrupt.signal });
    } finally {
      stopListening();
      await target.close().catch((e: unknown) => io.stderr(`mmconform: closing ${values.target}: ${oneLineMessage(e)}\n`));
    }
    const written = writeOutputFiles('run', [
      [values.json, () => resultsJsonText(report)],
      [values.junit, () => junitXml(report)],
    ]);
    if (report.interrupted)
      io.stderr(
        `mmconform: run: stopped by ${report.interrupted}${report.interrupted === 'SIGPIPE' ? ' (stdout was closed)' : ''} after ${report.suites.length} of ${suites.length} suites\n`,
      );
    await written;
    return runExitStatus(report);
  },
};
