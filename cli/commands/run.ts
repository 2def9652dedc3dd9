// `mmconform run`: the ported selftests on a target, KTAP on stdout as
// kselftest's runner prints it, progress on stderr, JSON/JUnit on request.
// Exit status 0 when every suite passed or skipped, 1 when any failed or
// errored, 128+N when signal N stopped the run (the results so far are
// still written; a closed stdout counts as SIGPIPE), 2 on bad input.

import { resultsJsonText } from '../../reports/results-json.ts';
import { junitXml } from '../../reports/junit.ts';
import { SUITES } from '../../suites/index.ts';
import { UsageError, checkOutputFiles, oneLineMessage, parseCommandArgs, parseTimeoutSeconds, writeOutputFiles, type Command } from '../../harness/command.ts';
import { onInterrupt, runExitStatus, runSuites, type RunReport } from '../../harness/runner.ts';
import { chooseSuites, openTarget } from './select.ts';
import { parseShard, shardOf, shardSuitesLine, SHARD_USAGE } from '../shard.ts';

/**
 * --test PATTERN: a result name containing PATTERN, where `*` stands for
 * anything (`'Huge page testing: *'`); any of several patterns.
 */
export function testSelector(patterns: readonly string[]): (name: string) => boolean {
  const escape = (t: string) => t.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const res = patterns.map((p) => new RegExp(p.split('*').map(escape).join('.*')));
  return (name) => res.some((re) => re.test(name));
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the ported selftests on a target: KTAP on stdout, JSON and JUnit on request',
  usage: [
    'mmconform run [--target NAME] [--suite NAME]... [--test PATTERN]... [--filter TEXT] [--shard i/n] [--json FILE] [--junit FILE] [--override-timeout SEC]',
    '  --target   what to run on (default reference; see mmconform targets)',
    `  --suite    one suite (${SUITES.map((s) => s.name).join(', ')}); repeat for several; default all`,
    "  --test     only the results whose name contains PATTERN ('*' matches anything; repeat for several): their",
    '             suites run whole (a C program\'s tests share its state), the others not at all, and each',
    '             suite\'s KTAP holds the chosen results, renumbered',
    SHARD_USAGE,
    '                 of those chosen; merge the shards\' --json files with mmconform report',
    '  --json     write the results as JSON to FILE',
    '  --junit    write the results as JUnit XML to FILE',
    "  --filter   uffd-unit-tests' own -f: only its tests whose name holds TEXT, under a plan of their own",
    "  --override-timeout  each suite's timeout in seconds, in place of the selftests' settings (900), as",
    "             run_kselftest.sh's -o: a port makes a call at a time, and under QEMU's emulation it may",
    '             need longer than the C program it ports',
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
        test: { type: 'string', multiple: true },
        filter: { type: 'string' },
        'override-timeout': { type: 'string' },
        shard: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const timeoutSeconds = parseTimeoutSeconds('run', values['override-timeout']);
    let suites = chooseSuites('run', values.suite, values.filter);
    if (values.test?.some((p) => p === '')) throw new UsageError('run: --test: an empty pattern (it would choose every result)');
    const select = values.test ? testSelector(values.test) : undefined;
    if (select) {
      // the suites with a chosen result run (whole); the others are not started
      suites = suites.filter((s) => s.tests.some(select));
      if (suites.length === 0) throw new UsageError(`run: --test ${values.test!.join(' --test ')} matches no result of the suites asked for (see mmconform list)`);
    }
    const shard = parseShard('run', values.shard);
    if (shard) {
      suites = shardOf(shard, suites);
      io.stderr(shardSuitesLine('run', shard, suites));
    }
    await checkOutputFiles('run', [
      ['--json', values.json],
      ['--junit', values.junit],
    ]);
    const target = await openTarget('run', values.target);

    const interrupt = new AbortController();
    const stopListening = onInterrupt((signal) => interrupt.abort(signal));
    let report: RunReport;
    try {
      report = await runSuites(target, values.target, suites, { stdout: io.stdout, stderr: io.stderr, colour: io.colourStderr === true, signal: interrupt.signal, ...(select ? { select } : {}), ...(timeoutSeconds ? { timeoutSeconds } : {}) });
    } finally {
      stopListening();
      await target.close().catch((e: unknown) => io.stderr(`mmconform: closing ${values.target}: ${oneLineMessage(e)}\n`));
    }
    const written = writeOutputFiles('run', [
      [values.json, () => resultsJsonText(report)],
      [values.junit, () => junitXml([report])],
    ]);
    if (report.interrupted)
      io.stderr(
        `mmconform: run: stopped by ${report.interrupted}${report.interrupted === 'SIGPIPE' ? ' (stdout was closed)' : ''} after ${report.suites.length} of ${suites.length} suites\n`,
      );
    await written;
    return runExitStatus(report);
  },
};
