// `mmconform layout` as a user meets it: exit status, JSON shape, the text
// verdict, the HTML page, and one-line errors for every kind of bad input.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { expectUsageError, mmconform, type Run } from '../testing.ts';

interface LayoutJson {
  layout: string;
  states: Record<string, Record<string, string>>;
  free: Record<string, number[]>;
  collisions: { state: string; bit: number; meanings: string[] }[];
}

async function layoutJson(...argv: string[]): Promise<{ code: number | null; json: LayoutJson }> {
  const { code, stdout, stderr } = await mmconform('layout', '--format', 'json', ...argv);
  expect(stderr).toBe('');
  return { code, json: JSON.parse(stdout) as LayoutJson };
}

const dir = mkdtempSync(join(tmpdir(), 'mmconform-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tempFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const SOFT_DIRTY_61 = { name: 'v6.10+sd', base: 'v6.10', softDirty: 63, swap: { softDirty: 61 } };
const SOFT_DIRTY_4 = { name: 'v6.10+sd4', base: 'v6.10', softDirty: 63, swap: { softDirty: 4 } };
const sd61Json = tempFile('sd61.json', JSON.stringify(SOFT_DIRTY_61));
const sd4Json = tempFile('sd4.json', JSON.stringify(SOFT_DIRTY_4));
const sd61Module = tempFile('sd61.ts', `const layout: Record<string, unknown> = ${JSON.stringify(SOFT_DIRTY_61)};\nexport default layout;\n`);

describe('mmconform layout --format json', () => {
  test('v6.10 (6.12): uffd-wp in 58 and swap 3, devmap in 57, bit 63 free, no collision', async () => {
    const { code, json } = await layoutJson('--layout', 'v6.10');
    expect(code).toBe(0);
    expect(json.layout).toBe('v6.10');
    expect(json.states.present?.['58']).toBe('PTE_UFFD_WP');
    expect(json.states.present?.['57']).toBe('PTE_DEVMAP');
    expect(json.free.present).toEqual([63]);
    expect(json.states.swap?.['3']).toBe('PTE_SWP_UFFD_WP');
    expect(json.collisions).toEqual([]);
  });

  test("v6.17 (the default, today's kernels): v6.10's without PTE_DEVMAP, so bits 57 and 63 are free", async () => {
    const { code, json } = await layoutJson('--layout', 'v6.17');
    expect(code).toBe(0);
    expect(json.layout).toBe('v6.17');
    expect(json.states.present?.['58']).toBe('PTE_UFFD_WP');
    expect(json.free.present).toEqual([57, 63]);
    expect(json.states.swap?.['3']).toBe('PTE_SWP_UFFD_WP');
    expect(json.collisions).toEqual([]);
    expect((await layoutJson()).json).toEqual(json);
  });

  test('rfc: soft-dirty in 63 and swap 61, no collision', async () => {
    const { code, json } = await layoutJson('--layout', 'rfc');
    expect(code).toBe(0);
    expect(json.states.present?.['63']).toBe('PTE_SOFT_DIRTY');
    expect(json.states.swap?.['61']).toBe('PTE_SWP_SOFT_DIRTY');
    expect(json.collisions).toEqual([]);
  });

  test('a layout file putting swap soft-dirty on the v6.10 swap offset collides, exit 1', async () => {
    const { code, json } = await layoutJson('--layout', sd61Json);
    expect(code).toBe(1);
    expect(json.layout).toBe('v6.10+sd');
    expect(json.collisions).toHaveLength(1);
    expect(json.collisions[0]).toMatchObject({ state: 'swap', bit: 61 });
    expect(json.collisions[0]?.meanings).toEqual(expect.arrayContaining(['PTE_SWP_SOFT_DIRTY', 'swap offset[49]']));
  });

  test('the same with swap soft-dirty in free bit 4 is clean, exit 0', async () => {
    const { code, json } = await layoutJson('--layout', sd4Json);
    expect(code).toBe(0);
    expect(json.states.swap?.['4']).toBe('PTE_SWP_SOFT_DIRTY');
    expect(json.collisions).toEqual([]);
  });

  test('a .ts module whose default export is the layout works as the JSON file does', async () => {
    const fromModule = await mmconform('layout', '--format', 'json', '--layout', sd61Module);
    const fromJson = await mmconform('layout', '--format', 'json', '--layout', sd61Json);
    expect(fromModule).toEqual(fromJson);
  });

  test('several layouts give an array, one report each, in order', async () => {
    const { stdout, code } = await mmconform('layout', '--format', 'json', '--layout', 'v6.9', '--layout', 'rfc');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as LayoutJson[]).map((r) => r.layout)).toEqual(['v6.9', 'rfc']);
  });
});

describe('mmconform layout (text)', () => {
  const lastLine = (text: string): string | undefined => text.trimEnd().split('\n').at(-1);

  test('folds fields into ranges and ends with the verdict', async () => {
    const { code, stdout } = await mmconform('layout');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {4}61\.\.12 +swap offset\[0\.\.49\]$/m);
    expect(stdout).toMatch(/^ {4}47\.\.12 +OA\[12\.\.47\]$/m);
    expect(lastLine(stdout)).toBe('verdict: v6.17 is clean: bits 57 and 63 are free in present entries; swap entries have 4 free bits');
  });

  test('rfc has no free present bit left', async () => {
    const { stdout } = await mmconform('layout', '--layout', 'rfc');
    expect(lastLine(stdout)).toBe('verdict: rfc is clean: no software bit is free in present entries; swap entries have 2 free bits');
  });

  test('marks the colliding bit with !! and names both meanings in the verdict', async () => {
    const { code, stdout } = await mmconform('layout', '--layout', sd61Json);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^!! {2}61 +PTE_SWP_SOFT_DIRTY \| swap offset\[49\]$/m);
    expect(lastLine(stdout)).toBe('verdict: 1 collision: swap bit 61 is both PTE_SWP_SOFT_DIRTY and swap offset[49]');
  });
});

describe('mmconform layout --format html', () => {
  test('is a complete page with the layout name and a verdict', async () => {
    const { code, stdout } = await mmconform('layout', '--format', 'html', '--layout', 'rfc');
    expect(code).toBe(0);
    expect(stdout.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(stdout.trimEnd().endsWith('</html>')).toBe(true);
    expect(stdout).toContain('<title>mmconform layout: rfc</title>');
    expect(stdout).toContain('rfc is clean');
    expect(stdout).not.toMatch(/<script|<link|src=/);
  });

  test('escapes text taken from a layout file', async () => {
    const evil = tempFile('evil.json', JSON.stringify({ name: '<b>&"x"', base: 'v6.10', description: "<img src=x onerror='1'>" }));
    const { stdout } = await mmconform('layout', '--format', 'html', '--layout', evil);
    expect(stdout).toContain('&lt;b&gt;&amp;&quot;x&quot;');
    expect(stdout).not.toContain('<b>&"x"');
    expect(stdout).not.toContain('<img');
  });

  test('--output writes the page to a file and keeps the exit status', async () => {
    const out = join(dir, 'out.html');
    const { code, stdout } = await mmconform('layout', '--format', 'html', '--layout', sd61Json, '--output', out);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toContain('v6.10+sd');
  });
});

describe('bad input: exit 2 and one line on stderr', () => {
  const badInputs: [string, string[], string][] = [
    ['unknown layout name', ['layout', '--layout', 'v6.11'], 'unknown layout "v6.11" (built-in: v6.9, rfc, v6.10'],
    ['missing file', ['layout', '--layout', join(dir, 'missing.json')], `layout file ${join(dir, 'missing.json')} not found`],
    ['malformed JSON', ['layout', '--layout', tempFile('malformed.json', '{"name": "x",')], 'invalid JSON'],
    ['a bit out of range', ['layout', '--layout', tempFile('dirty99.json', '{"name": "x", "base": "v6.10", "dirty": 99}')], 'dirty must be'],
    ['an unknown key', ['layout', '--layout', tempFile('typo.json', '{"name": "x", "base": "v6.10", "dirtyy": 5}')], 'unknown key dirtyy'],
    ['a module without default export', ['layout', '--layout', tempFile('nodefault.ts', 'export const layout = {};\n')], 'no default export'],
    ['a module that throws', ['layout', '--layout', tempFile('throws.ts', 'throw new Error("boom\\nsecond line");\n')], 'import failed: boom'],
    ['a module exporting a number', ['layout', '--layout', tempFile('number.mjs', 'export default 42;\n')], 'must be an object'],
    // issue 13, defect 9: a terminal escape and a newline in a name reached the terminal, and could fake a verdict line
    ['an escape in a name', ['layout', '--layout', tempFile('esc.json', JSON.stringify({ name: 'x\u001b[2K', base: 'v6.10' }))], '"name" holds a character that is not printable ASCII (U+001b)'],
    ['a newline in a description', ['layout', '--layout', tempFile('nl.json', JSON.stringify({ name: 'x', base: 'v6.10', description: 'a\nv6.10 is clean' }))], '"description" holds a character that is not printable ASCII (U+000a)'],
    ['an unknown option', ['layout', '--bogus'], "layout: unknown option '--bogus'"],
    ['a bad --format', ['layout', '--format', 'xml'], '--format must be text|json|html, got "xml"'],
    ['a positional argument', ['layout', 'v6.10'], "unexpected argument 'v6.10'"],
    ['an unknown command', ['frobnicate'], 'unknown command "frobnicate"'],
    ['no command', [], 'no command given'],
  ];

  test.each(badInputs)('%s', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  // issue 13, defect 9: it ended Node with exit 13 and no word
  test('a module whose top-level await never settles: one line after 10 s, exit 2', async () => {
    await expectUsageError(['layout', '--layout', tempFile('hangs.mjs', 'await new Promise(() => {});\nexport default {};\n')], 'its top-level code did not finish in 10 s');
  }, 30_000);

  test('--json FILE writes the JSON report as run --json does, the text still on stdout; --output x.html is HTML', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmconform-layout-'));
    try {
      const { code, stdout } = await mmconform('layout', '--json', join(dir, 'l.json'));
      expect(code).toBe(0);
      expect(stdout).toMatch(/^layout v6\.17: /);
      expect((JSON.parse(readFileSync(join(dir, 'l.json'), 'utf8')) as { layout: string }).layout).toBe('v6.17');
      await mmconform('layout', '--output', join(dir, 'l.html'));
      expect(readFileSync(join(dir, 'l.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--help prints usage for every command, exit 0', async () => {
    const { code, stdout } = await mmconform('--help');
    expect(code).toBe(0);
    expect(stdout).toContain('mmconform layout [--layout NAME|FILE]');
    expect((await mmconform('help')).stdout).toBe(stdout);
  });
});

describe('bin/mmconform.js', () => {
  const bin = fileURLToPath(new URL('../../bin/mmconform.js', import.meta.url));
  const spawn = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stdout, stderr }));
    });

  test('prints the JSON report and exits 0', async () => {
    const { code, stdout, stderr } = await spawn('layout', '--layout', 'v6.10', '--format', 'json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as LayoutJson).layout).toBe('v6.10');
  });

  test('a bad layout name exits 2 with one line and no stack trace', async () => {
    const { code, stdout, stderr } = await spawn('layout', '--layout', 'nonesuch');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^mmconform: unknown layout "nonesuch"[^\n]*\n$/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
