import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from '../testing.ts';
import { renumberedKtap } from './coverage.ts';

const dir = await mkdtemp(join(tmpdir(), 'mmconform-coverage-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('mmconform coverage', { timeout: 120_000 }, () => {
  test.each([
    ['a real kernel', ['coverage', '--target', 'linux-host'], "coverage: --target linux-host: not an in-process model; coverage measures a model's own code"],
    ['an exec target', ['coverage', '--target', 'exec:true'], 'coverage: --target exec:true: not an in-process model'],
    ['a missing plug-in', ['coverage', '--target', 'module:/nonexistent.ts'], 'coverage: --target module:/nonexistent.ts: '],
    ['an unknown suite', ['coverage', '--suite', 'x'], 'coverage: unknown suite "x"'],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test("two suites on a plug-in: their KTAP as one run's, HTML and lcov per suite and in total, the plug-in's file measured", async () => {
    const out = join(dir, 'cov');
    const variant = resolve('examples/variants/sd-mprotect.ts');
    const { code, stdout, stderr } = await mmconform('coverage', '--target', `module:${variant}`, '--suite', 'madv_populate', '--suite', 'regressions-soft-dirty', '--out', out);
    // the variant is A2: regressions-soft-dirty fails by design
    expect(code).toBe(1);
    expect(stdout).toMatch(/^TAP version 13\n1\.\.2\n/);
    expect(stdout).toMatch(/^ok 1 selftests: mm: madv_populate$/m);
    expect(stdout).toMatch(/^not ok 2 selftests: mmconform: regressions-soft-dirty/m);
    for (const name of ['madv_populate', 'regressions-soft-dirty', 'total'])
      expect(stdout).toMatch(new RegExp(`^# coverage: ${name}: lines \\d+\\.\\d% \\(\\d+/\\d+\\), functions .*, branches .*$`, 'm'));
    expect(stderr).toMatch(/mmconform: coverage by 2 suite\(s\): lines \d+\.\d% \(\d+\/\d+\); reports in .*cov\/\n$/);
    const lcov = await readFile(join(out, 'total', 'lcov.info'), 'utf8');
    // paths as c8 gives them, from the working directory
    expect(lcov).toMatch(/^SF:examples\/variants\/sd-mprotect\.ts$/m);
    expect(lcov).toMatch(/^SF:model\/mm\/migrate\.ts$/m);
    expect(lcov).not.toMatch(/\.test(ing)?\.ts$/m);
    expect(await readFile(join(out, 'madv_populate', 'index.html'), 'utf8')).toContain('<html');
  });

  test("a suite's KTAP renumbered as the nth of a run, its own header dropped", () => {
    expect(renumberedKtap('TAP version 13\n1..1\n# x\nnot ok 1 selftests: a # exit=1', 3)).toBe('# x\nnot ok 3 selftests: a # exit=1');
  });
});
