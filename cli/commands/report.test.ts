// `mmconform report`: shards merged into the run they split, several
// targets and a comparison in one report, bad files refused in one line,
// and the HTML page opened in a real browser (Debian's chromium, headless).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumMissing, renderedDom, screenshot } from '../../harness/browser.ts';
import { expectUsageError, mmconform } from '../testing.ts';

const SUITES = ['soft-dirty', 'madv_populate', 'regressions-soft-dirty', 'regressions-uffd-wp'];
const suiteArgs = SUITES.flatMap((s) => ['--suite', s]);

let dir = '';
const at = (f: string) => join(dir, f);
/** results without their timings, which differ from run to run */
const untimed = (doc: { suites: { results: { ms?: number }[] }[] }) => doc.suites.map((s) => ({ ...s, results: s.results.map(({ ms: _, ...r }) => r) }));
const read = async (f: string) => JSON.parse(await readFile(at(f), 'utf8')) as { runs: { target: { name: string }; suites: { name: string; results: { ms?: number }[] }[] }[]; rows: unknown[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mmconform-report-'));
  // soft-dirty skips on the merged layout and runs on the RFC's: a skip with its reason, and rows that differ
  await mmconform('run', '--target', 'reference', ...suiteArgs, '--json', at('whole.json'));
  for (const s of ['1/2', '2/2']) await mmconform('run', '--target', 'reference', ...suiteArgs, '--shard', s, '--json', at(`shard-${s[0]}.json`));
  await mmconform('run', '--target', 'reference:rfc', '--suite', 'soft-dirty', '--suite', 'madv_populate', '--json', at('rfc.json'));
  await mmconform('compare', '--targets', 'reference@6.12,reference:rfc@6.12', '--suite', 'regressions-uffd-wp', '--descriptors', '--json', at('compare.json'));
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('mmconform report', () => {
  test('the shards of a run merge into that run, suites in their order', async () => {
    const r = await mmconform('report', at('shard-2.json'), at('shard-1.json'), '--json', at('merged.json'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^suite +reference\n/);
    const whole = JSON.parse(await readFile(at('whole.json'), 'utf8')) as Parameters<typeof untimed>[0];
    const merged = await read('merged.json');
    expect(merged.runs.map((x) => x.target.name)).toEqual(['reference']);
    expect(untimed(merged.runs[0]!)).toEqual(untimed(whole));
    // and a report merges again: its JSON is compare's shape, runs and all
    expect((await mmconform('report', at('merged.json'), at('rfc.json'))).code).toBe(1);
  });

  test('targets, a comparison and JUnit in one report: rows that differ, descriptors, exit 1', async () => {
    const r = await mmconform('report', at('shard-1.json'), at('shard-2.json'), at('rfc.json'), at('compare.json'), '--html', at('report.html'), '--junit', at('junit.xml'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^soft-dirty +skip \(no results\) +pass \(19 pass\) +not run +not run *$/m);
    expect(r.stdout).toContain('soft-dirty: (exit): reference skip, reference:rfc pass, reference@6.12 not run, reference:rfc@6.12 not run');
    expect(r.stdout).toMatch(/descriptor difference\(s\), reference@6\.12\/reference:rfc@6\.12/);
    const junit = await readFile(at('junit.xml'), 'utf8');
    for (const t of ['reference: madv_populate', 'reference:rfc: soft-dirty', 'reference@6.12: regressions-uffd-wp', 'reference:rfc@6.12: regressions-uffd-wp']) expect(junit).toContain(`<testsuite name="${t}"`);
  });

  test.each([
    ['no file', ['report'], 'report: name one or more results files'],
    ['a missing file', ['report', '/nonexistent/r.json'], 'report: /nonexistent/r.json: ENOENT'],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('a file that is not results, and one suite twice for one target: exit 2, one line', async () => {
    await writeFile(at('bad.json'), '{"target": {"name": "x"}}');
    await expectUsageError(['report', at('bad.json')], 'not a results file of run --json, compare --json or report --json');
    await writeFile(at('text.json'), 'KTAP version 1');
    await expectUsageError(['report', at('text.json')], 'not JSON');
    await expectUsageError(['report', at('whole.json'), at('shard-1.json')], 'on reference is in');
  });

  test('the HTML page in headless Chromium: every suite and target in the matrix, painted in the status colours', async (ctx) => {
    const missing = chromiumMissing();
    if (missing) return ctx.skip(missing);
    await mmconform('report', at('shard-1.json'), at('shard-2.json'), at('rfc.json'), at('compare.json'), '--html', at('page.html'));
    // the matrix as the browser built it: a row per suite, a cell per target
    const dom = await renderedDom(at('page.html'));
    const matrix = /<table class="matrix">([\s\S]*?)<\/table>/.exec(dom)?.[1] ?? '';
    for (const t of ['reference', 'reference:rfc', 'reference@6.12', 'reference:rfc@6.12']) expect(matrix).toContain(`>${t}</th>`);
    const rows = [...matrix.matchAll(/<tr><td class="name"><a href="#suite-([^"]+)">/g)].map((m) => m[1]);
    expect(rows).toEqual(SUITES);
    expect([...matrix.matchAll(/<td class="s-/g)]).toHaveLength(4 * 4);
    // and painted: the pass, skip and not-run colours of the cells, in the screenshot's pixels
    await screenshot(at('page.html'), at('page.png'), 1200, 900);
    const png = PNG.sync.read(await readFile(at('page.png')));
    const count = (rgb: readonly [number, number, number]) => {
      let n = 0;
      for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === rgb[0] && png.data[i + 1] === rgb[1] && png.data[i + 2] === rgb[2]) n++;
      return n;
    };
    const cellArea = 100; // a cell's fill is thousands of pixels; text alone is never this many of one colour
    expect(count([0xdc, 0xfc, 0xe7]), 'pass').toBeGreaterThan(6 * cellArea);
    expect(count([0xfe, 0xf3, 0xc7]), 'skip').toBeGreaterThan(cellArea);
    expect(count([0xf3, 0xf4, 0xf6]), 'not run').toBeGreaterThan(6 * cellArea);
    expect(count([0xfe, 0xca, 0xca]), 'fail').toBe(0);
  }, 120_000);
});
