import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from '../testing.ts';

describe('mmconform compare', () => {
  test.each([
    ['one target', ['compare', '--targets', 'reference'], 'compare: --targets needs two or more targets'],
    ['no targets', ['compare'], 'compare: --targets needs two or more targets'],
    ['an unknown target', ['compare', '--targets', 'reference,bogus'], 'compare: --target bogus: unknown target "bogus"'],
    ['an unknown suite', ['compare', '--targets', 'reference,reference:rfc', '--suite', 'x'], 'compare: unknown suite "x"'],
    ['a bad format', ['compare', '--targets', 'reference,reference:rfc', '--format', 'xml'], 'compare: --format must be text|json|html'],
    [
      'descriptors of two architectures',
      ['compare', '--targets', 'reference,linux-host', '--descriptors'],
      'compare: --descriptors compares entries of one architecture; reference is arm64, linux-host is x86_64',
    ],
    [
      'descriptors of targets that cannot read their page tables',
      ['compare', '--targets', 'linux-host,linux-host', '--descriptors'],
      'compare: --descriptors: linux-host cannot read its page tables (no mmconform_pgwalk module in its kernel), so nothing would be compared',
    ],
    ['an --output in a missing directory, before anything runs', ['compare', '--targets', 'reference,reference', '--output', '/nonexistent/x.json'], 'compare: cannot write /nonexistent/x.json'],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('agreeing targets: exit 0, every row agrees', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc+thp=always', '--suite', 'madv_populate');
    expect(code).toBe(0);
    expect(stdout).toMatch(/all 22 rows agree\n$/);
  });

  test('6.12 against 7.2 on rfc: the merge results disagree, and come first', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc@6.12', '--suite', 'soft-dirty', '--format', 'json');
    expect(code).toBe(1);
    const m = JSON.parse(stdout) as { disagreements: number; rows: { name: string; agree: boolean; status: Record<string, string> }[] };
    expect(m.disagreements).toBe(5);
    expect(m.rows.slice(0, 5).map((r) => r.name)).toEqual([
      '(exit)',
      'Test test_merge-anon soft-dirty after remap merge 1st pg',
      'Test test_merge-anon soft-dirty after remap merge 2nd pg',
      'Test test_merge-anon soft-dirty after mprotect merge 1st pg',
      'Test test_merge-anon soft-dirty after mprotect merge 2nd pg',
    ]);
    expect(m.rows[1]?.status).toEqual({ 'reference:rfc': 'pass', 'reference:rfc@6.12': 'fail' });
  });

  test('--descriptors: the matrix, then the descriptor report by kind; a model differs from another version where the versions do', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference@6.12,reference@7.2', '--suite', 'pte-states', '--descriptors');
    expect(code).toBe(1);
    expect(stdout).toMatch(/all \d+ rows agree\ndescriptors: \d+ difference\(s\) of \d+ kind\(s\), reference@6\.12\/reference@7\.2\n/);
    // 7.2's table entries carry AF: one kind per level, counted, with where it came first
    expect(stdout).toMatch(/\n +\d+ x pgd: AF \(FEAT_HAFT\) \(bit 10\) 0\/1\n +first at pte-states: untouched: no entry: step 1 pagemap, page 0 \(0x0800000040001003 against 0x0800000040001403\)\n/);
    // closing the userfaultfd with a split THP mapped: 6.12 refolds its ptes, 7.2 does not (as both arm64 kernels do)
    expect(stdout).toMatch(/\n +2 x pte: PTE_CONT \(bit 52\) 1\/0\n +first at pte-states: hugetlb load: a PMD block: step \d+ close, /);
  });

  test('--format json with --descriptors and --calls: one JSON document, the walks by kind and the calls in it', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference@6.12,reference@7.2', '--suite', 'pte-states', '--descriptors', '--calls', '--format', 'json');
    expect(code).toBe(1);
    const doc = JSON.parse(stdout) as { agree: boolean; disagreements: number; descriptors: { against: string[]; differences: number; kinds: { level: string; count: number }[] }[]; calls: { calls: number }[] };
    expect(doc.agree).toBe(false);
    expect(doc.descriptors[0]!.against).toEqual(['reference@6.12', 'reference@7.2']);
    expect(doc.descriptors[0]!.kinds.reduce((n, k) => n + k.count, 0)).toBe(doc.descriptors[0]!.differences);
    expect(doc.calls[0]!.calls).toBeGreaterThan(100);
  });

  test('--output FILE.html: the whole report goes to the file, its verdict counts the walks, stdout stays empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-compare-'));
    try {
      const file = join(dir, 'report.html');
      const { code, stdout, stderr } = await mmconform('compare', '--targets', 'reference@6.12,reference@7.2', '--suite', 'pte-states', '--descriptors', '--output', file);
      expect([code, stdout]).toEqual([1, '']);
      expect(stderr).toContain(`compare written to ${file}: they disagree`);
      const html = await readFile(file, 'utf8');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toMatch(/All \d+ rows agree; \d+ descriptor difference\(s\), reference@6\.12\/reference@7\.2\./);
      expect(html).toContain('<h2>Descriptors, reference@6.12 against reference@7.2</h2>');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('--json FILE and --html FILE as run --json: the reports written, the text still on stdout; one file named twice is an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-compare-'));
    try {
      const [json, html] = [join(dir, 'c.json'), join(dir, 'c.html')];
      const { code, stdout } = await mmconform('compare', '--targets', 'reference,reference', '--suite', 'regressions-uffd-wp', '--json', json, '--html', html);
      expect(code).toBe(0);
      expect(stdout).toMatch(/all \d+ rows agree\n$/);
      expect((JSON.parse(await readFile(json, 'utf8')) as { agree: boolean }).agree).toBe(true);
      expect(await readFile(html, 'utf8')).toMatch(/^<!doctype html>/);
      await expectUsageError(['compare', '--targets', 'reference,reference', '--json', json, '--output', json], `compare: --output and --json name the same file, ${json}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('html: a complete document with the targets as columns, text escaped', async () => {
    const { stdout } = await mmconform('compare', '--targets', 'reference,reference:rfc', '--suite', 'regressions-soft-dirty', '--format', 'html');
    expect(stdout).toMatch(/^<!doctype html>/);
    expect(stdout).toContain('<th title="arm64, layout rfc, kernel 7.2">reference:rfc</th>');
    expect(stdout).toContain('sd-hole-before: an unmapped page before an area reads as 0');
  });
  test('--calls: every call compared; one target against itself is equal call for call', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc', '--suite', 'madv_populate', '--calls');
    expect(code).toBe(0);
    expect(stdout).toMatch(/\ncalls: \d+ compared, all equal \(reference:rfc against reference:rfc\)\n$/);
  });

  test('--calls: where a suite first differs, with the test it belongs to and both outcomes', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc+thp=never', '--suite', 'madv_populate', '--calls');
    expect(code).toBe(1);
    expect(stdout).toMatch(/\ncalls: madv_populate: differs at call \d+ \(in "[^"]+"\), \d+ lines differ from there\n {2}\S.*\n {4}reference:rfc: .*\n {4}reference:rfc\+thp=never: .*\n/);
  });
});
