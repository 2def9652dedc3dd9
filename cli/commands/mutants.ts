// `mmconform mutants`: the kernel's bug history (mutants/catalogue.ts) put
// back into the reference one bug at a time, the suites run on each, and
// the results that kill it named; the bugs the model cannot express yet,
// with what each needs. Exit status 0 when every mutant run is killed, 1
// when one survives, 128+N when signal N stopped it (the report so far is
// still written), 2 on bad input.

import { MUTANTS, UNEXPRESSED, type Mutant } from '../../mutants/catalogue.ts';
import { runMutants } from '../../mutants/run.ts';
import { mutantsHtml, mutantsJson, mutantsSummary, mutantsText } from '../../reports/mutants.ts';
import { SUITES } from '../../suites/index.ts';
import { UsageError, parseCommandArgs, type Command } from '../../harness/command.ts';
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

export const mutantsCommand: Command = {
  name: 'mutants',
  summary: "put each bug of the kernel's history back into the model and name the results that catch it",
  usage: [
    'mmconform mutants [--only ID]... [--suite NAME]... [--format text|json|html] [--output FILE] [--json FILE] [--html FILE]',
    '  --only     one mutant, by its id in shared/reference/bugs.md (sd-mprotect) or its heading (A2); repeat for',
    '             several; default every one',
    `  --suite    one suite to kill with (${SUITES.map((s) => s.name).join(', ')}); repeat for several; default all`,
    ...REPORT_USAGE,
    '  exit status: 0 every mutant killed, 1 one survived, 128+N stopped by signal N (the report so far',
    '               written), 2 bad input',
  ].join('\n'),

  async run(argv, io) {
    const { values } = parseCommandArgs('mutants', argv, {
      options: { only: { type: 'string', multiple: true }, suite: { type: 'string', multiple: true }, ...REPORT_OPTIONS },
      strict: true,
      allowPositionals: false,
    });
    const mutants = chooseMutants(values.only);
    const suites = chooseSuites('mutants', values.suite, undefined);
    const plan = await planReports('mutants', values);
    const interrupt = new AbortController();
    const stopListening = onInterrupt((signal) => interrupt.abort(signal));
    let report;
    try {
      report = await runMutants(mutants, values.only ? [] : UNEXPRESSED, suites, { progress: (line) => io.stderr(`${line}\n`), signal: interrupt.signal });
    } finally {
      stopListening();
    }
    await plan.write(io, (f) => FORMATS[f](report));
    io.stderr(`mmconform: mutants: ${mutantsSummary(report)}${plan.files.length ? `; written to ${plan.files.join(', ')}` : ''}\n`);
    if (report.interrupted) return 128 + INTERRUPT_SIGNALS[report.interrupted];
    return report.outcomes.every((o) => o.kills.length > 0) ? 0 : 1;
  },
};
