// module: targets: a file's default export, a Variant of the reference or a
// factory of a Target, checked at load; each thing wrong named on one line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runSuites } from '../runner.ts';
import { SUITES } from '../../suites/index.ts';
import { resolveTarget } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmconform-module-'));
const PLUGIN = new URL('../plugin.ts', import.meta.url).pathname;
const REFERENCE = new URL('./index.ts', import.meta.url).pathname;

/** A module file holding `text`; its name returned. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('a module that does not make a Target is refused at load, in one line', () => {
  test.each([
    ['nodefault.ts', 'export const x = 1;', 'no default export (export default a Variant of the reference or a function making a Target (harness/plugin.ts))'],
    ['number.js', 'export default 42;', 'its default export made number, not a Target'],
    ['throws.js', 'throw new Error("boom\\nat line 2");', 'import failed: boom at line 2'],
    ['target.js', 'export default () => ({ info() {}, spawn() {} });', 'its Target lacks capabilities(), close()'],
    ['factory-throws.js', 'export default () => { throw new Error("no licence"); };', 'no licence'],
    [
      'proc.js',
      'export default () => ({ info: async () => ({}), capabilities: async () => ({}), close: async () => {}, spawn: async () => ({ mmap() {}, exit: async () => {} }) });',
      /^its Proc lacks munmap\(\), mprotect\(\), .*, uffdRead\(\)$/,
    ],
    ['spawn.js', 'export default () => ({ info() {}, capabilities() {}, close() {}, spawn: async () => { throw new Error("out of pids"); } });', 'its spawn() failed: out of pids'],
    ['field.js', 'export default { base: "reference", helper: {} };', 'variant: no field "helper" (known: name, base, helpers, kernel, mm, functions)'],
    ['empty.js', 'module.exports = {};', 'variant: changes nothing (give helpers, kernel, mm, functions; the reference itself is --target reference)'],
    ['base.js', 'export default { base: "linux-host", kernel: { madviseGuard: false } };', 'variant: base "linux-host" is not a reference target (reference[:LAYOUT][@KERNEL][+OPTION=VALUE]...)'],
    ['helper.js', 'export default { name: "x", helpers: { pteMkFoo: (o) => o } };', /^variant "x": no helper "pteMkFoo" \(known: pteNone, pteValid, .*\)$/],
    ['switch.js', 'export default { kernel: { madviseGuard: "no" } };', 'variant: kernel switch "madviseGuard" is a string, not a boolean'],
    ['mm.js', 'export default { mm: { vmaSoftDirtyEnabled: true } };', 'variant: mm function "vmaSoftDirtyEnabled" is a boolean, not a function'],
    ['layout.js', 'export default { base: "reference:v9", kernel: { madviseGuard: false } };', /^unknown layout "v9"/],
  ])('%s', async (name, text, why) => {
    await expect(resolveTarget(`module:${file(name, text)}`)).rejects.toThrow(why);
  });

  test('a file that is not there', async () => {
    await expect(resolveTarget(`module:${dir}/missing.ts`)).rejects.toThrow(`${dir}/missing.ts: no such file`);
  });
});

describe('a module that makes a Target', { timeout: 60_000 }, () => {
  const run = async (path: string, suite: string) => {
    const target = await resolveTarget(`module:${path}`);
    const report = await runSuites(target, 'module', SUITES.filter((s) => s.name === suite), { stdout: () => {}, stderr: () => {} });
    await target.close();
    return report.suites[0]!.results.filter((r) => r.status !== 'pass' && r.status !== 'skip').map((r) => `${r.status}: ${r.name}`);
  };

  test('a factory: the Target it makes', async () => {
    const path = file('factory.ts', `import { resolveTarget } from '${REFERENCE}';\nexport default () => resolveTarget('reference:rfc');\n`);
    const target = await resolveTarget(`module:${path}`);
    expect((await target.info()).layout).toBe('rfc');
    await target.close();
    expect(await run(path, 'madv_populate')).toEqual([]);
  });

  test("a variant's helper: pte_modify() that keeps PTE_DBM fails pte-states (as suites/conformance.test.ts plants it)", async () => {
    const path = file(
      'dbm.ts',
      `import type { Variant } from '${PLUGIN}';\nexport default { name: 'keeps-dbm', helpers: { pteModify: (original) => (p, prot) => original(p, prot) | (p & (1n << 51n)) } } satisfies Variant;\n`,
    );
    const target = await resolveTarget(`module:${path}`);
    expect((await target.info()).name).toBe('keeps-dbm');
    await target.close();
    expect((await run(path, 'pte-states')).length).toBeGreaterThan(0);
  });

  test("a variant's kernel switch: merges as before VMA_STICKY_FLAGS (v6.19) fail the sd-vma-merge regression", async () => {
    const path = file('sticky.ts', `export default { base: 'reference:rfc', kernel: { vmaStickySoftDirty: false } };\n`);
    expect(await run(path, 'regressions-soft-dirty')).toEqual(['fail: sd-vma-merge: a clean area merged with a new soft-dirty one is soft-dirty']);
  });
});
