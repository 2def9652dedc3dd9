// `mmconform mutants`: the kernel's bug history (mutants/catalogue.ts) put
// back into the reference one bug at a time, the suites run on each, and
// the results that kill it named; the bugs the model cannot express yet,
// with what each needs. Exit status 0 when every mutant run is killed, 1
// when one survives, 128+N when signal N stopped it (the report so far is
// still written), 2 on bad input.

import { MUTANTS, UNEXPRESSED, type Mutant } from '../../mutants/catalogue.ts';
import { fuzzMutants, type FuzzBudget } from '../../mutants/fuzz.ts';
import { runMutants } from '../../mutants/run.ts';
import { mutantsHtml, mutantsJson, mutantsSummary, mutantsText } from '../../reports/mutants.ts';
import { SUITES } from '../../suites/index.ts';
import { UsageError, parseWhole, parseCommandArgs, type Command } from '../../harness/command.ts';
import { planReports, REPORT_OPTIONS, REPORT_USAGE } from '../report-outputs.ts';
import { INTERRUPT_SIGNALS, onInterrupt } from '../../harness/runner.ts';
import { chooseSuites } from './select.ts';

const FORMATS = { text: mutantsText, json: mutantsJson, html: mutantsHtml } as const;

function chooseMutants(ids: readonly string[] | undefined): Mutant[] {
  if (ids === undefined) return [...MUTANTS];
  return ids.map((id) => {
    const mutant = MUTANTS.find((m) => m.id === id || m.ref === id);
    if (mutant) return mutant;
    const unexpressed = UNEXPRESSED.find((u) => u.id === id || u.ref === id);
    if (unexpressed) throw new UsageError(`mutants: --only ${id}: ${unexpressed.ref} ${unexpressed.id} is not expressed${unexpressed.never ? '' : ' yet'}: it needs ${unexpressed.needs}`);
    throw new UsageError(`mutants: --only ${id}: no such bug (known: ${MUTANTS.map((m) => m.id).join(', ')}; see mmconform mutants for the rest)`);
  });
}

const whole = (name: string, v: string | undefined, dflt: number, min = 1): number => parseWhole('mutants', name, v, dflt, min);

/** --fuzz's budget, or null without --fuzz (where its options are refused) */
function fuzzBudget(values: { fuzz?: boolean; runs?: string; time?: string; seed?: string; suite?: string[] }): FuzzBudget | null {
  if (!values.fuzz) {
    const stray = (['runs', 'time', 'seed'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`mutants: --${stray} needs --fuzz`);
    return null;
  }
  if (values.suite) throw new UsageError('mutants: --fuzz kills with the fuzzer alone: no --suite');
  if (values.runs !== undefined && values.time !== undefined) throw new UsageError('mutants: give --runs or --time, not both');
  const seed = values.seed === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0 : whole('seed', values.seed, 0, 0);
  return { runs: whole('runs', values.runs, 300), seconds: values.time === undefined ? null : whole('time', values.time, 1), seed, maxCalls: 40 };
}

export const mutantsCommand: Command = {
  name: 'mutants',
  summary: "put each bug of the kernel's history back into the model and name the results that catch it",
  usage: [
    'mmconform mutants [--only ID]... [--suite NAME]... [--format text|json|html] [--output FILE] [--json FILE] [--html FILE]',
    'mmconform mutants --fuzz [--runs N | --time S] [--seed N] [--only ID]...   (the fuzzer alone, judged by the oracles)',
    '  --only     one mutant, by its id in shared/reference/bugs.md (sd-mprotect) or its heading (A2); repeat for',
    '             several; default every one',
    `  --suite    one suite to kill with (${SUITES.map((s) => s.name).join(', ')}); repeat for several; default all`,
    '  --fuzz     kill with the fuzzer alone instead of the suites: generated sequences judged by the oracles',
    '             (mmconform fuzz without --against), until one breaks a promise the reference keeps',
    '  --runs     with --fuzz: sequences a mutant (default 300); --time S: seconds a mutant instead',
    '  --seed     with --fuzz: the generator seed (default random; printed), the same for every mutant',
    ...REPORT_USAGE,
    '  exit status: 0 every mutant killed, 1 one survived, 128+N stopped by signal N (the report so far',
    '               written), 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('mutants', argv, {
      options: {
        only: { type: 'string', multiple: true },
        suite: { type: 'string', multiple: true },
        fuzz: { type: 'boolean', default: false },
        runs: { type: 'string' },
        time: { type: 'string' },
        seed: { type: 'string' },
        ...REPORT_OPTIONS,
      },
      strict: true,
      allowPositionals: false,
    });
    const mutants = chooseMutants(values.only);
    const suites = chooseSuites('mutants', values.suite, undefined);
    const plan = await planReports('mutants', values);
    const budget = fuzzBudget(values);
    const interrupt = new AbortController();
    const stopListening = onInterrupt((signal) => interrupt.abort(signal));
    let report;
    try {
      const options = { progress: (line: string) => io.stderr(`${line}\n`), signal: interrupt.signal };
      const unexpressed = values.only ? [] : UNEXPRESSED;
      if (budget) io.stderr(`mutants: the fuzzer alone, seed ${budget.seed} (again: --seed ${budget.seed}), ${budget.seconds === null ? `${budget.runs} sequences` : `${budget.seconds} s`} a mutant\n`);
      report = budget ? await fuzzMutants(mutants, unexpressed, budget, options) : await runMutants(mutants, unexpressed, suites, options);
    } finally {
      stopListening();
    }
    await plan.write(io, (f) => FORMATS[f](report));
    io.stderr(`mmconform: mutants: ${mutantsSummary(report)}${plan.files.length ? `; written to ${plan.files.join(', ')}` : ''}\n`);
    if (report.interrupted) return 128 + INTERRUPT_SIGNALS[report.interrupted];
    return report.outcomes.every((o) => o.kills.length > 0) ? 0 : 1;
  },
};
