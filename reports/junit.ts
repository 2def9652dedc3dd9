// `mmconform run --junit`: JUnit XML for CI. One <testsuite> per suite,
// named with the target so the same suite run on several targets does not
// collide; one <testcase> per result. A suite whose exit status says more
// than its results (skipped as a whole, or failed by a Bail out! or a plan
// mismatch with no failed result) gets one more testcase named as
// runner.sh names the program, carrying that verdict.

import type { KsftResult } from '../harness/ksft.ts';
import { ktapDescription, type RunReport, type SuiteReport } from '../harness/runner.ts';

interface Case {
  readonly name: string;
  readonly ms: number;
  /** the child element, or '' for a pass */
  readonly outcome: string;
  readonly counts: 'failures' | 'errors' | 'skipped' | null;
}

/** One document for the runs of one target or several (mmconform report merges them). */
export function junitXml(reports: readonly RunReport[]): string {
  const suites = reports.flatMap((report) => report.suites.map((suite) => ({ target: report.target, suite, cases: cases(suite) })));
  const all = suites.flatMap((s) => s.cases);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="mmconform" ${countAttributes(all)}>`,
    ...suites.flatMap(({ target, suite, cases }) => {
      const classname = `${target.name}.${suite.name}`;
      const properties: [string, string | number | null][] = [
        ['target', target.name],
        ['arch', target.arch],
        ['layout', target.layout],
        ['kernel', target.kernel],
        ['source', suite.source],
        ['plan', suite.plan],
        ['exit', suite.exit.code],
      ];
      return [
        `  <testsuite name="${attr(`${target.name}: ${suite.name}`)}" ${countAttributes(cases)}>`,
        '    <properties>',
        ...properties
          .filter((p): p is [string, string | number] => p[1] !== null)
          .map(([name, value]) => `      <property name="${name}" value="${attr(String(value))}"/>`),
        '    </properties>',
        ...cases.map((c) => {
          const open = `    <testcase classname="${attr(classname)}" name="${attr(c.name)}" time="${seconds(c.ms)}"`;
          return c.outcome === '' ? `${open}/>` : `${open}>\n      ${c.outcome}\n    </testcase>`;
        }),
        '  </testsuite>',
      ];
    }),
    '</testsuites>',
  ];
  return `${lines.join('\n')}\n`;
}

function cases(suite: SuiteReport): Case[] {
  const results = suite.results.map(resultCase);
  const { status, code, reason } = suite.exit;
  const program = ktapDescription(suite);
  if (status === 'skip' && results.length === 0)
    return [{ name: program, ms: 0, outcome: `<skipped message="${attr(reason ?? '')}"/>`, counts: 'skipped' }];
  if (status === 'fail' && !suite.results.some((r) => r.status === 'fail' || r.status === 'error')) {
    const message = `exit=${code}${reason === null ? '' : `: Bail out! ${reason}`}`;
    return [...results, { name: program, ms: 0, outcome: `<failure message="${attr(message)}"/>`, counts: 'failures' }];
  }
  return results;
}

function resultCase(r: KsftResult): Case {
  const base = { name: r.name, ms: r.ms };
  switch (r.status) {
    case 'pass':
      return { ...base, outcome: '', counts: null };
    case 'fail':
      return { ...base, outcome: `<failure message="${attr(`not ok ${r.n} ${r.name}`)}"/>`, counts: 'failures' };
    case 'skip':
      return { ...base, outcome: `<skipped message="${attr(r.reason ?? '')}"/>`, counts: 'skipped' };
    case 'xfail':
      // As pytest reports an expected failure.
      return { ...base, outcome: `<skipped message="${attr(`XFAIL ${r.reason ?? ''}`)}"/>`, counts: 'skipped' };
    case 'error':
      return { ...base, outcome: `<error message="${attr(r.reason ?? '')}"/>`, counts: 'errors' };
  }
}

function countAttributes(cases: readonly Case[]): string {
  const count = (kind: Case['counts']): number => cases.filter((c) => c.counts === kind).length;
  const ms = cases.reduce((sum, c) => sum + c.ms, 0);
  return `tests="${cases.length}" failures="${count('failures')}" errors="${count('errors')}" skipped="${count('skipped')}" time="${seconds(ms)}"`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** An attribute value: markup escaped, line breaks kept, characters XML 1.0 forbids replaced. */
export function attr(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[&<>"'\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}
