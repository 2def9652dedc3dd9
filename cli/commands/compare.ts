// `mmconform compare`: runs the suites on each target in turn and prints
// where they agree and where not. Exit status 0 when every row agrees, 1
// when any disagrees, 2 on bad input.

import { allAgree, compareHtml, compareJson, compareMatrix, compareText, type CompareSections } from '../../reports/compare.ts';
import { UsageError, oneLineMessage, parseCommandArgs, parseTimeoutSeconds, type Command } from '../../harness/command.ts';
import { planReports, REPORT_OPTIONS, REPORT_USAGE } from '../report-outputs.ts';
import { runSuites, type RunReport } from '../../harness/runner.ts';
import type { Target } from '../../harness/target.ts';
import { chooseSuites, openTarget } from './select.ts';
import { parseShard, shardOf, shardSuitesLine, SHARD_USAGE } from '../shard.ts';
import { DescriptorRecorder } from '../../harness/descriptors/record.ts';
import { bitNamer, recordingDifferences, summarizeDifferences } from '../../harness/descriptors/compare.ts';
import { resolveLayout } from '../../harness/layout-file.ts';
import { DEFAULT_LAYOUT } from '../../model/arm64/layout.ts';
import { pgtable } from '../../model/arm64/pgtable.ts';
import { CallRecorder } from '../../harness/calls/record.ts';
import { compareCallLogs } from '../../harness/calls/compare.ts';
import type { Proc } from '../../harness/target.ts';

/** Raw entries compare only within one architecture's format. */
async function sameArch(names: readonly string[], targets: readonly Target[]): Promise<void> {
  const arches = await Promise.all(targets.map(async (t) => (await t.info()).arch));
  const other = arches.findIndex((a) => a !== arches[0]);
  if (other > 0) {
    throw new UsageError(`compare: --descriptors compares entries of one architecture; ${names[0]} is ${arches[0]}, ${names[other]} is ${arches[other]}`);
  }
}

/** Comparing walks a target cannot read would compare nothing: an error before anything runs. */
async function readsPageTables(names: readonly string[], targets: readonly Target[]): Promise<void> {
  for (const [i, t] of targets.entries()) {
    if (!(await t.capabilities()).introspect)
      throw new UsageError(`compare: --descriptors: ${names[i]} cannot read its page tables (no mmconform_pgwalk module in its kernel), so nothing would be compared`);
  }
}

/** Bits named by the first target's layout (a model's), or the default layout's for a real kernel. */
async function bitNamerFor(report: RunReport) {
  const layout = report.target.layout ? await resolveLayout(report.target.layout) : DEFAULT_LAYOUT;
  return bitNamer(layout, pgtable(layout));
}

const FORMATS = { text: compareText, json: compareJson, html: compareHtml } as const;

export const compareCommand: Command = {
  name: 'compare',
  summary: 'run the suites on several targets and show, result by result, where they disagree',
  usage: [
    'mmconform compare --targets A,B[,...] [--suite NAME]... [--shard i/n] [--format text|json|html] [--output FILE] [--json FILE] [--html FILE] [--descriptors] [--calls] [--filter TEXT] [--override-timeout SEC]',
    '  --targets      two or more targets, comma-separated (see mmconform targets)',
    '  --suite        one suite; repeat for several; default all',
    SHARD_USAGE,
    "                 of those chosen; merge the shards' --json files with mmconform report",
    ...REPORT_USAGE,
    '  --descriptors  also read the page-table walk of every page a test touched after every step it takes,',
    '                 on every target, and print each bit where a target differs from the first (named by',
    "                 the first target's layout; output-address bits masked); needs targets that can read",
    '                 their page tables (the reference model, the QEMU targets)',
    '  --calls        also compare every call a test makes and what it returned (errnos, signals, data,',
    '                 pagemap flags, PAGEMAP_SCAN regions, smaps of its own areas; addresses, descriptors,',
    '                 frame numbers and swap slots named or masked), and print where each suite first differs',
    "  --filter TEXT  as run's: uffd-unit-tests' own -f",
    "  --override-timeout SEC  each suite's timeout, as run's",
    '  exit status: 0 all agree, 1 a disagreement, 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('compare', argv, {
      options: {
        targets: { type: 'string' },
        suite: { type: 'string', multiple: true },
        ...REPORT_OPTIONS,
        descriptors: { type: 'boolean', default: false },
        calls: { type: 'boolean', default: false },
        filter: { type: 'string' },
        'override-timeout': { type: 'string' },
        shard: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const timeoutSeconds = parseTimeoutSeconds('compare', values['override-timeout']);
    const plan = await planReports('compare', values);
    const names = (values.targets ?? '').split(',').filter(Boolean);
    if (names.length < 2) throw new UsageError('compare: --targets needs two or more targets, comma-separated');
    const shard = parseShard('compare', values.shard);
    const suites = shardOf(shard, chooseSuites('compare', values.suite, values.filter));
    if (shard) io.stderr(shardSuitesLine('compare', shard, suites));

    // every name checked before anything runs: a typo in the last one must not cost a run of the first
    const targets: Target[] = [];
    const reports: RunReport[] = [];
    const recorders: DescriptorRecorder[] = [];
    const callRecorders: CallRecorder[] = [];
    try {
      for (const name of names) targets.push(await openTarget('compare', name));
      if (values.descriptors) {
        await sameArch(names, targets);
        await readsPageTables(names, targets);
      }
      for (const [i, target] of targets.entries()) {
        io.stderr(`== ${names[i]}\n`);
        const recorder = new DescriptorRecorder();
        recorders.push(recorder);
        const calls = new CallRecorder();
        callRecorders.push(calls);
        // calls are recorded as the test makes them, the descriptor reads the recorder adds left out
        const wraps = [...(values.descriptors ? [recorder.wrap.bind(recorder)] : []), ...(values.calls ? [calls.wrap.bind(calls)] : [])];
        const wrapProc = wraps.length ? (p: Proc, suite: string, n: () => number) => wraps.reduce((q, w) => w(q, suite, n), p) : undefined;
        // the matrix is the output; each run's KTAP is not
        reports.push(await runSuites(target, names[i]!, suites, { stdout: () => {}, stderr: io.stderr, ...(wrapProc ? { wrapProc } : {}), ...(timeoutSeconds ? { timeoutSeconds } : {}) }));
      }
    } finally {
      for (const [i, target] of targets.entries())
        await target.close().catch((e: unknown) => io.stderr(`mmconform: closing ${names[i]}: ${oneLineMessage(e)}\n`));
    }
    const matrix = compareMatrix(reports);
    const sections: { runs: RunReport[]; descriptors?: NonNullable<CompareSections['descriptors']>[number][]; calls?: NonNullable<CompareSections['calls']>[number][] } = { runs: reports };
    if (values.descriptors) {
      const namer = await bitNamerFor(reports[0]!);
      const testName = (report: RunReport) => (suite: string, n: number) => report.suites.find((s) => s.name === suite)?.results[n]?.name ?? null;
      sections.descriptors = [];
      for (let i = 1; i < targets.length; i++) {
        const differences = summarizeDifferences(recordingDifferences(recorders[0]!.log, recorders[i]!.log, namer, testName(reports[0]!)));
        sections.descriptors.push({ against: [names[0]!, names[i]!], differences });
      }
    }
    if (values.calls) {
      const testName = (suite: string, n: number) => reports[0]!.suites.find((s) => s.name === suite)?.results[n]?.name ?? null;
      const infos = await Promise.all(targets.map((t) => t.info()));
      sections.calls = [];
      for (let i = 1; i < targets.length; i++) {
        const comparison = compareCallLogs(callRecorders[0]!.lines, callRecorders[i]!.lines, [infos[0]!, infos[i]!], testName);
        sections.calls.push({ against: [names[0]!, names[i]!], comparison });
      }
    }
    // one document a format: the matrix, then what the walks and the calls showed
    const agree = allAgree(matrix, sections);
    await plan.write(io, (f) => FORMATS[f](matrix, sections));
    if (plan.files.length) io.stderr(`mmconform: compare written to ${plan.files.join(', ')}: ${agree ? 'all agree' : 'they disagree'}\n`);
    return agree ? 0 : 1;
  },
};
