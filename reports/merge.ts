// `mmconform report`'s input: results files from several runs, targets or
// shards (run --json, compare --json, and report --json itself), each held
// to its JSON Schema, merged into one run per target. The shards of one
// target become one run; a suite two files both ran for one target is an
// error, as are two files that call different targets by one name. What
// compare --descriptors and --calls found is merged per pair of targets.

import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { mergeCallComparisons, type CallComparison, type CallDifference } from '../harness/calls/compare.ts';
import { mergeSummaries, type DifferenceKind, type DifferenceSummary } from '../harness/descriptors/compare.ts';
import type { RunReport, SuiteReport } from '../harness/runner.ts';
import { SUITES } from '../suites/index.ts';
import type { CompareSections } from './compare.ts';
import type { ResultsJson } from './results-json.ts';

/** A results file as read: its name (for messages) and text. */
export interface ResultsFile {
  readonly file: string;
  readonly text: string;
}

export interface MergedResults {
  /** one run per target, in the order the targets first came; suites in the order `mmconform list` gives */
  readonly reports: readonly RunReport[];
  /** the walks' and calls' differences, one entry per pair of targets; `runs` is `reports` */
  readonly sections: CompareSections;
}

/** compare --json (and report --json): the parts a report reads */
interface CompareDoc {
  readonly runs?: readonly ResultsJson[];
  readonly descriptors?: readonly { readonly against: [string, string]; readonly differences: number; readonly kinds: readonly DifferenceKind[] }[];
  readonly calls?: readonly { readonly against: [string, string]; readonly calls: number; readonly differences: readonly CallDifference[]; readonly named: Readonly<Record<string, number>> }[];
}

const ajv = new Ajv2020({ allErrors: false, strict: true });
for (const name of ['results.schema.json', 'compare.schema.json']) ajv.addSchema(JSON.parse(readFileSync(new URL(`./schemas/${name}`, import.meta.url), 'utf8')) as object);

/** The file's document, checked against the schema of the kind it claims to be. */
function parse({ file, text }: ResultsFile): { results: ResultsJson[]; compare: CompareDoc | null } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const isCompare = typeof doc === 'object' && doc !== null && 'rows' in doc;
  const id = isCompare ? 'mmconform/compare.schema.json' : 'mmconform/results.schema.json';
  const validate = ajv.getSchema(id)!;
  if (!validate(doc)) throw new Error(`${file}: not a results file of run --json, compare --json or report --json (${ajv.errorsText(validate.errors, { dataVar: 'file' })})`);
  if (!isCompare) return { results: [doc as ResultsJson], compare: null };
  const c = doc as CompareDoc;
  if (!c.runs) throw new Error(`${file}: a compare --json file without its runs (written before compare kept them): compare again, or merge the runs' own --json files`);
  return { results: [...c.runs], compare: c };
}

/** A suite's place in `mmconform list` (one not built in, last). */
export const suiteOrder = (name: string): number => {
  const i = SUITES.findIndex((s) => s.name === name);
  return i < 0 ? SUITES.length : i;
};

export function mergeResults(files: readonly ResultsFile[]): MergedResults {
  const runs = new Map<string, { report: RunReport; from: Map<string, string> }>();
  const descriptors = new Map<string, { against: readonly [string, string]; differences: DifferenceSummary }>();
  const calls = new Map<string, { against: readonly [string, string]; comparison: CallComparison }>();
  for (const f of files) {
    const { results, compare } = parse(f);
    for (const r of results) {
      const had = runs.get(r.target.name);
      if (had && JSON.stringify(had.report.target) !== JSON.stringify(r.target))
        throw new Error(`${f.file}: target ${r.target.name} is ${describe(r.target)} there but ${describe(had.report.target)} in ${[...had.from.values()][0]}`);
      const from = had?.from ?? new Map<string, string>();
      for (const s of r.suites) {
        const other = from.get(s.name);
        if (other !== undefined) throw new Error(`${f.file}: ${s.name} on ${r.target.name} is in ${other} too: merge the shards of one run, not two runs`);
        from.set(s.name, f.file);
      }
      const suites: SuiteReport[] = [...(had?.report.suites ?? []), ...r.suites].sort((a, b) => suiteOrder(a.name) - suiteOrder(b.name));
      const interrupted = had?.report.interrupted ?? r.run.interrupted;
      runs.set(r.target.name, { report: { target: r.target, suites, interrupted, planned: (had?.report.planned ?? 0) + r.run.suitesPlanned }, from });
    }
    for (const d of compare?.descriptors ?? []) {
      const key = d.against.join('\u0000');
      const summary: DifferenceSummary = { count: d.differences, kinds: d.kinds };
      const had = descriptors.get(key);
      descriptors.set(key, { against: d.against, differences: had ? mergeSummaries(had.differences, summary) : summary });
    }
    for (const c of compare?.calls ?? []) {
      const key = c.against.join('\u0000');
      const comparison: CallComparison = { calls: c.calls, differences: c.differences, named: new Map(Object.entries(c.named)) };
      const had = calls.get(key);
      calls.set(key, { against: c.against, comparison: had ? mergeCallComparisons(had.comparison, comparison) : comparison });
    }
  }
  const reports = [...runs.values()].map((r) => r.report);
  return {
    reports,
    sections: { runs: reports, ...(descriptors.size ? { descriptors: [...descriptors.values()] } : {}), ...(calls.size ? { calls: [...calls.values()] } : {}) },
  };
}

const describe = (t: RunReport['target']): string => `${t.arch}, kernel ${t.kernel}, layout ${t.layout ?? 'real'}`;
