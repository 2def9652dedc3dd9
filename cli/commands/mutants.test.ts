import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from '../testing.ts';

const dir = await mkdtemp(join(tmpdir(), 'mmconform-mutants-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('mmconform mutants', { timeout: 60_000 }, () => {
  test.each([
    ['a bug not expressed yet', ['mutants', '--only', 'A6'], 'mutants: --only A6: A6 ksm-unmerge-uffdwp is not expressed yet: it needs KSM'],
    ['a bug never expressible', ['mutants', '--only', 'uffd-tlb-race'], 'mutants: --only uffd-tlb-race: G6 uffd-tlb-race is not expressed: it needs a TLB'],
    ['no such bug', ['mutants', '--only', 'nope'], 'mutants: --only nope: no such bug (known: sd-writenotify, sd-mprotect'],
    ['an unknown suite', ['mutants', '--suite', 'x'], 'mutants: unknown suite "x"'],
    ['a bad format', ['mutants', '--format', 'xml'], 'mutants: --format must be text|json|html'],
    ['--runs without --fuzz', ['mutants', '--runs', '5'], 'mutants: --runs needs --fuzz'],
    ['--fuzz with --suite', ['mutants', '--fuzz', '--suite', 'pte-states'], 'mutants: --fuzz kills with the fuzzer alone: no --suite'],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('a mutant killed, by id or by heading: JSON on stdout, HTML to a file, the totals on stderr, exit 0', async () => {
    const html = join(dir, 'm.html');
    const { code, stdout, stderr } = await mmconform('mutants', '--only', 'A2', '--only', 'uffd-unreg-reset', '--suite', 'regressions-soft-dirty', '--suite', 'regressions-uffd-wp', '--format', 'json', '--html', html);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { killed: number; run: number; mutants: { id: string; killed: boolean; kills: { suite: string; name: string; base: string; mutant: string }[] }[]; unexpressed: unknown[] };
    expect([report.killed, report.run, report.unexpressed.length]).toEqual([2, 2, 0]);
    expect(report.mutants.map((m) => [m.id, m.kills[1]])).toEqual([
      ['sd-mprotect', { suite: 'regressions-soft-dirty', name: 'sd-mprotect: mprotect(RO) then mprotect(RW) after clear_refs keeps write faults for soft-dirty', base: 'pass', mutant: 'fail' }],
      ['uffd-unreg-reset', { suite: 'regressions-uffd-wp', name: 'uffd-unreg-reset: UFFDIO_UNREGISTER resets write protection, and a new registration finds none', base: 'pass', mutant: 'fail' }],
    ]);
    expect(stderr).toMatch(/^\[1\/2\] sd-mprotect \(A2\): killed by 2 result\(s\) in [\d.]+ s$/m);
    expect(stderr).toMatch(/mmconform: mutants: 2 of 2 mutants killed \(100%\) by regressions-soft-dirty, regressions-uffd-wp; 0 bugs not expressed, 0 of them never expressible; written to .*m\.html\n$/);
    expect(await readFile(html, 'utf8')).toMatch(/<tr class="killed"><td>A2<\/td><td><code>sd-mprotect<\/code>/);
  });

  test('a mutant the suites asked for miss survives: said so, exit 1', async () => {
    const { code, stdout } = await mmconform('mutants', '--only', 'sd-mprotect', '--suite', 'madv_populate');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^A2 sd-mprotect on reference:rfc: SURVIVED\n/);
    expect(stdout).toMatch(/\n0 of 1 mutants killed \(0%\) by madv_populate; 0 bugs not expressed, 0 of them never expressible\n$/);
  });

  test('--fuzz: the fuzzer alone, by the oracles: each kill names the promise and the sequence that broke it', async () => {
    const { code, stdout, stderr } = await mmconform('mutants', '--fuzz', '--only', 'B2', '--only', 'H3', '--runs', '200', '--seed', '2026');
    expect(code).toBe(0);
    expect(stderr).toContain('mutants: the fuzzer alone, seed 2026 (again: --seed 2026), 200 sequences a mutant');
    expect(stderr).toMatch(/^\[1\/2\] sd-hole-before \(B2\): killed by pagemap-hole \(sequence 4, seed 2030\) in [\d.]+ s$/m);
    expect(stderr).toMatch(/^\[2\/2\] pmscan-swp-uffd \(H3\): killed by pagemap-scan-agree \(sequence 30, seed 2056\) in [\d.]+ s$/m);
    expect(stdout).toMatch(/\n2 of 2 mutants killed \(100%\) by fuzz; /);
  });
});
