// The JSON and JUnit reports of a run: their exact shapes, one suite of
// each kind (results of every status, a whole-suite skip, a Bail out! with
// no failed result), and escaping of what a test or a target printed.

import { describe, expect, test } from 'vitest';
import type { RunReport } from '../harness/runner.ts';
import { attr, junitXml } from './junit.ts';
import { resultsJson, resultsJsonText } from './results-json.ts';

const SOURCE = 'tools/testing/selftests/mm/soft-dirty.c';

const REPORT: RunReport = {
  target: { name: 'reference:rfc', arch: 'arm64', layout: 'rfc', kernel: '7.2' },
  interrupted: null,
  suites: [
    {
      name: 'soft-dirty',
      source: SOURCE,
      plan: 19,
      exit: { status: 'error', code: 139, reason: 'killed by SIGSEGV at 0x1000' },
      results: [
        { n: 1, name: 'Test test_simple', status: 'pass', reason: null, ms: 12.34567 },
        { n: 2, name: 'Test test_vma_reuse dirty bit of allocated page', status: 'fail', reason: null, ms: 1 },
        { n: 3, name: 'Test test_hugepage huge page allocation', status: 'skip', reason: 'Test test_hugepage huge page allocation', ms: 1 },
        { n: 4, name: 'Test x', status: 'xfail', reason: 'Test x', ms: 1 },
        { n: 5, name: 'selftests: mm: soft-dirty', status: 'error', reason: 'killed by SIGSEGV at 0x1000', ms: 2 },
      ],
    },
    {
      name: 'soft-dirty',
      source: SOURCE,
      plan: 0,
      exit: { status: 'skip', code: 4, reason: 'soft-dirty is not support' },
      results: [],
    },
    {
      name: 'madv_populate',
      source: 'tools/testing/selftests/mm/madv_populate.c',
      plan: 21,
      exit: { status: 'fail', code: 1, reason: 'read and ioctl return unmatched results for soft-dirty: 1 0' },
      results: [{ n: 1, name: 'MADV_POPULATE_READ with PROT_READ', status: 'pass', reason: null, ms: 3 }],
    },
  ],
};

describe('results JSON', () => {
  test('the documented shape: target, the run, suites with plan, exit and results, totals over all results and over suites', () => {
    const json = resultsJson(REPORT);
    expect(Object.keys(json)).toEqual(['target', 'run', 'suites', 'totals', 'suiteTotals']);
    expect(json.run).toEqual({ complete: true, interrupted: null, suitesPlanned: 3, suitesRun: 3 });
    // as KTAP's "# Totals:" counts the suites: the harness error is a failure there
    expect(json.suiteTotals).toEqual({ pass: 0, fail: 2, xfail: 0, skip: 1 });
    expect(json.target).toEqual({ name: 'reference:rfc', arch: 'arm64', layout: 'rfc', kernel: '7.2' });
    expect(json.suites.map((s) => Object.keys(s))).toEqual(Array(3).fill(['name', 'source', 'plan', 'exit', 'results']));
    expect(json.suites[0]?.results[0]).toEqual({ n: 1, name: 'Test test_simple', status: 'pass', reason: null, ms: 12.346 });
    expect(json.suites[1]).toEqual({
      name: 'soft-dirty',
      source: SOURCE,
      plan: 0,
      exit: { status: 'skip', code: 4, reason: 'soft-dirty is not support' },
      results: [],
    });
    expect(json.totals).toEqual({ pass: 2, fail: 1, skip: 1, xfail: 1, error: 1 });
    expect(JSON.parse(resultsJsonText(REPORT))).toEqual(json);
    expect(resultsJsonText(REPORT).endsWith('}\n')).toBe(true);
  });
});

/** The <properties> lines of a testsuite of REPORT. */
function properties(source: string, plan: number, exit: number): string[] {
  const values = { target: 'reference:rfc', arch: 'arm64', layout: 'rfc', kernel: '7.2', source, plan, exit };
  return ['    <properties>', ...Object.entries(values).map(([k, v]) => `      <property name="${k}" value="${v}"/>`), '    </properties>'];
}

describe('JUnit XML', () => {
  test('a testsuite per suite named with the target, a testcase per result, the exit where results do not show it', () => {
    expect(junitXml([REPORT])).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="mmconform" tests="8" failures="2" errors="1" skipped="3" time="0.020">',
        '  <testsuite name="reference:rfc: soft-dirty" tests="5" failures="1" errors="1" skipped="2" time="0.017">',
        ...properties(SOURCE, 19, 139),
        '    <testcase classname="reference:rfc.soft-dirty" name="Test test_simple" time="0.012"/>',
        '    <testcase classname="reference:rfc.soft-dirty" name="Test test_vma_reuse dirty bit of allocated page" time="0.001">',
        '      <failure message="not ok 2 Test test_vma_reuse dirty bit of allocated page"/>',
        '    </testcase>',
        '    <testcase classname="reference:rfc.soft-dirty" name="Test test_hugepage huge page allocation" time="0.001">',
        '      <skipped message="Test test_hugepage huge page allocation"/>',
        '    </testcase>',
        '    <testcase classname="reference:rfc.soft-dirty" name="Test x" time="0.001">',
        '      <skipped message="XFAIL Test x"/>',
        '    </testcase>',
        '    <testcase classname="reference:rfc.soft-dirty" name="selftests: mm: soft-dirty" time="0.002">',
        '      <error message="killed by SIGSEGV at 0x1000"/>',
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="reference:rfc: soft-dirty" tests="1" failures="0" errors="0" skipped="1" time="0.000">',
        ...properties(SOURCE, 0, 4),
        '    <testcase classname="reference:rfc.soft-dirty" name="selftests: mm: soft-dirty" time="0.000">',
        '      <skipped message="soft-dirty is not support"/>',
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="reference:rfc: madv_populate" tests="2" failures="1" errors="0" skipped="0" time="0.003">',
        ...properties('tools/testing/selftests/mm/madv_populate.c', 21, 1),
        '    <testcase classname="reference:rfc.madv_populate" name="MADV_POPULATE_READ with PROT_READ" time="0.003"/>',
        '    <testcase classname="reference:rfc.madv_populate" name="selftests: mm: madv_populate" time="0.000">',
        '      <failure message="exit=1: Bail out! read and ioctl return unmatched results for soft-dirty: 1 0"/>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });

  test('the same suite on two targets gives two testsuite names', () => {
    const other: RunReport = { ...REPORT, target: { ...REPORT.target, name: 'reference:v6.9', layout: 'v6.9' } };
    const names = (xml: string): string[] => [...xml.matchAll(/<testsuite name="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(new Set([...names(junitXml([REPORT])), ...names(junitXml([other]))]).size).toBe(4);
  });

  test('escapes markup and line breaks, replaces characters XML cannot hold', () => {
    expect(attr(`a<b>&"c"'d'\ne\tf`)).toBe('a&#60;b&#62;&#38;&#34;c&#34;&#39;d&#39;&#10;e&#9;f');
    expect(attr('nul\u0000 bell\u0007 esc\u001b')).toBe('nul\ufffd bell\ufffd esc\ufffd');
    const xml = junitXml([
      {
        ...REPORT,
        suites: [{ ...REPORT.suites[2]!, results: [{ n: 1, name: 'a <b> & "c"', status: 'error', reason: 'garbage: \u0001', ms: 0 }] }],
      },
    ]);
    expect(xml).toContain('name="a &#60;b&#62; &#38; &#34;c&#34;"');
    expect(xml).toContain('<error message="garbage: \ufffd"/>');
  });
});

// issue 13, defect 6: an interrupted run's file looked finished
test('an interrupted run says so, and how many of the suites asked for ran', () => {
  const json = resultsJson({ ...REPORT, suites: REPORT.suites.slice(0, 1), interrupted: 'SIGINT', planned: 6 });
  expect(json.run).toEqual({ complete: false, interrupted: 'SIGINT', suitesPlanned: 6, suitesRun: 1 });
});
