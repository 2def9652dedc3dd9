// `mmconform coverage`: the conformance suites on an in-process model (the
// reference, or a module plug-in) under V8 coverage, reported per suite and
// in total as HTML and lcov. stdout is the suites' KTAP, as `mmconform run`
// prints it, with each suite's share of the model as a diagnostic line.
// Exit status 0 when every suite passed or skipped, 1 otherwise, 128+N when
// signal N stopped it (the suites done by then are still reported), 2 on bad
// input.

import { coverage, TOTAL, type CoverageSummary } from '../../reports/coverage.ts';
import { UsageError, oneLineMessage, parseCommandArgs, type Command } from '../../harness/command.ts';
import { INTERRUPT_SIGNALS, onInterrupt, type InterruptSignal } from '../../harness/runner.ts';
import { chooseSuites, openTarget } from './select.ts';

const pct = (part: CoverageSummary['lines']) => `${part.pct.toFixed(1)}% (${part.covered}/${part.total})`;

/** One report's figures, as a KTAP diagnostic line. */
export function coverageLine(s: CoverageSummary): string {
  return `# coverage: ${s.name}: lines ${pct(s.lines)}, functions ${pct(s.functions)}, branches ${pct(s.branches)}`;
}

/**
 * One suite's `mmconform run` KTAP as the nth of a run of several: its own
 * "TAP version" and plan lines dropped, its result renumbered.
 */
export function renumberedKtap(text: string, n: number): string {
  return text
    .split('\n')
    .filter((l) => !/^TAP version \d+$/.test(l) && !/^1\.\.1$/.test(l))
    .map((l) => l.replace(/^(not ok|ok) 1 /, `$1 ${n} `))
    .join('\n');
}

export const coverageCommand: Command = {
  name: 'coverage',
  summary: 'run the suites on an in-process model under V8 coverage: HTML and lcov per suite and in total',
  usage: [
    'mmconform coverage [--target NAME] [--suite NAME]... [--out DIR]',
    '  --target   an in-process model: reference[:LAYOUT][@KERNEL][+OPTION]... (default reference) or module:PATH',
    '  --suite    one suite; repeat for several; default all',
    '  --out      where the reports go (default mmconform-coverage): DIR/SUITE/ and DIR/total/, each with',
    '             index.html, lcov.info and coverage-summary.json',
    '  what is measured: model/, and a module plug-in\'s own file',
    '  exit status: 0 all passed or skipped, 1 a failure or error, 128+N stopped by signal N (the suites',
    '               done reported), 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('coverage', argv, {
      options: { target: { type: 'string', default: 'reference' }, suite: { type: 'string', multiple: true }, out: { type: 'string', default: 'mmconform-coverage' } },
      strict: true,
      allowPositionals: false,
    });
    const target = values.target;
    const plugin = target.startsWith('module:') ? target.slice('module:'.length) : null;
    if (plugin === null && !/^reference([:@+]|$)/.test(target))
      throw new UsageError(`coverage: --target ${target}: not an in-process model; coverage measures a model's own code: reference[...] or module:PATH`);
    const suites = chooseSuites('coverage', values.suite, undefined);
    // a bad spec or plug-in fails here, in one line, before any suite runs
    await (await openTarget('coverage', target)).close();

    const interrupt = new AbortController();
    const stopListening = onInterrupt((signal) => interrupt.abort(signal));
    io.stdout(`TAP version 13\n1..${suites.length}\n`);
    let pending = '';
    let summaries: CoverageSummary[];
    try {
      summaries = await coverage({
        target,
        suites: suites.map((s) => s.name),
        out: values.out,
        extraSources: plugin === null ? [] : [plugin],
        // whole lines only, so a result line is renumbered in one piece
        ktap: (chunk, i) => {
          const lines = (pending + chunk).split('\n');
          pending = lines.pop()!;
          if (lines.length) io.stdout(`${renumberedKtap(lines.join('\n'), i + 1)}\n`);
        },
        progress: (line) => io.stderr(`${line}\n`),
        signal: interrupt.signal,
      });
    } catch (e) {
      throw new Error(`coverage: ${oneLineMessage(e)}`);
    } finally {
      stopListening();
    }
    for (const s of summaries) io.stdout(`${coverageLine(s)}\n`);
    const total = summaries.find((s) => s.name === TOTAL);
    if (total) io.stderr(`mmconform: coverage by ${summaries.length - 1} suite(s): lines ${pct(total.lines)}; reports in ${values.out}/\n`);
    const stoppedBy = interrupt.signal.reason as InterruptSignal | undefined;
    if (stoppedBy) {
      io.stderr(`mmconform: coverage: stopped by ${stoppedBy} after ${summaries.length ? summaries.length - 1 : 0} of ${suites.length} suites\n`);
      return 128 + INTERRUPT_SIGNALS[stoppedBy];
    }
    return summaries.every((s) => s.exit === null || s.exit === 0) ? 0 : 1;
  },
};
