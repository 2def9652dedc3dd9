// Ksft against kselftest.h: the bytes each call prints, the exit status
// each exit call gives, and the records kept for the reports.

import { describe, expect, test } from 'vitest';
import { Errno } from '../uapi/linux.ts';
import { KSFT_FAIL, KSFT_PASS, KSFT_SKIP, KSFT_XFAIL, KSFT_XPASS, Ksft } from './ksft.ts';

/** Runs `body` as a program's main(); returns what it printed and its exit status. */
async function program(body: (ksft: Ksft) => void | Promise<void>): Promise<{ out: string; code: number; ksft: Ksft }> {
  let out = '';
  let clock = 0;
  const ksft = new Ksft(
    (text) => void (out += text),
    () => (clock += 5),
  );
  const code = await ksft.runMain(async () => body(ksft));
  return { out, code, ksft };
}

test('exit codes are kselftest.h values', () => {
  expect([KSFT_PASS, KSFT_FAIL, KSFT_XFAIL, KSFT_XPASS, KSFT_SKIP]).toEqual([0, 1, 2, 3, 4]);
});

describe('results and ksft_finished()', () => {
  test('every kind of result, then finished with the plan met: exit 0', async () => {
    const { out, code } = await program((ksft) => {
      ksft.printHeader();
      ksft.setPlan(4);
      ksft.printMsg('[RUN] something');
      ksft.testResult(true, 'Test a');
      ksft.testResultSkip('Test b');
      ksft.testResultXfail('Test c');
      ksft.testResultPass('Test d');
      ksft.finished();
    });
    expect(out).toBe(
      [
        'TAP version 13',
        '1..4',
        '# [RUN] something',
        'ok 1 Test a',
        'ok 2 # SKIP Test b',
        'ok 3 # XFAIL Test c',
        'ok 4 Test d',
        '# 1 skipped test(s) detected. Consider enabling relevant config options to improve coverage.',
        '# Totals: pass:2 fail:0 xfail:1 xpass:0 skip:1 error:0',
        '',
      ].join('\n'),
    );
    expect(code).toBe(KSFT_PASS);
  });

  test('a failed result makes finished exit 1; getFailCnt and testNum count as C does', async () => {
    const { out, code, ksft } = await program((ksft) => {
      ksft.setPlan(2);
      ksft.testResult(false, 'Test a');
      ksft.testResultFail('Test b');
      ksft.finished();
    });
    expect(out).toBe('1..2\nnot ok 1 Test a\nnot ok 2 Test b\n# Totals: pass:0 fail:2 xfail:0 xpass:0 skip:0 error:0\n');
    expect(code).toBe(KSFT_FAIL);
    expect([ksft.getFailCnt(), ksft.testNum()]).toEqual([2, 2]);
  });

  test('fewer results than planned: the mismatch line, exit 1', async () => {
    const { out, code } = await program((ksft) => {
      ksft.setPlan(3);
      ksft.testResultPass('Test a');
      ksft.finished();
    });
    expect(out).toBe('1..3\nok 1 Test a\n# Planned tests != run tests (3 != 1)\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
    expect(code).toBe(KSFT_FAIL);
  });

  test('exitPass and exitFail print the counts and exit 0 and 1', async () => {
    expect((await program((ksft) => ksft.exitPass())).code).toBe(KSFT_PASS);
    const { out, code } = await program((ksft) => ksft.exitFail());
    expect(out).toBe('# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
    expect(code).toBe(KSFT_FAIL);
  });

  test('a main() that returns without an exit call exits 0; any other exception passes through', async () => {
    expect((await program(() => {})).code).toBe(0);
    await expect(program(() => Promise.reject(new TypeError('bug')))).rejects.toThrow('bug');
  });

  test('records: number, name as printed, status, reason, time since the previous result', async () => {
    const { ksft } = await program((ksft) => {
      ksft.setPlan(3);
      ksft.testResultPass('Test a');
      ksft.testResultSkip('Test b');
      ksft.testResultFail('Test c');
    });
    expect(ksft.results).toEqual([
      { n: 1, name: 'Test a', status: 'pass', reason: null, ms: 5 },
      { n: 2, name: 'Test b', status: 'skip', reason: 'Test b', ms: 5 },
      { n: 3, name: 'Test c', status: 'fail', reason: null, ms: 5 },
    ]);
    expect(ksft.plan).toBe(3);
  });
});

describe('ksft_exit_skip()', () => {
  test('before any plan or result: the whole program is skipped, no counts, exit 4', async () => {
    const { out, code, ksft } = await program((ksft) => {
      ksft.printHeader();
      ksft.exitSkip('soft-dirty is not support');
    });
    expect(out).toBe('TAP version 13\n1..0 # SKIP soft-dirty is not support\n');
    expect(code).toBe(KSFT_SKIP);
    expect(ksft.results).toEqual([]);
    expect(ksft.plan).toBe(0);
    expect(ksft.exitSkipReason).toBe('soft-dirty is not support');
  });

  test('after the plan: one more skipped result numbered next, then the counts', async () => {
    const { out, code, ksft } = await program((ksft) => {
      ksft.setPlan(5);
      ksft.exitSkip('MADV_POPULATE_READ is not available');
    });
    expect(out).toBe(
      [
        '1..5',
        'ok 1 # SKIP MADV_POPULATE_READ is not available',
        '# 1 skipped test(s) detected. Consider enabling relevant config options to improve coverage.',
        '# Planned tests != run tests (5 != 1)',
        '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0',
        '',
      ].join('\n'),
    );
    expect(code).toBe(KSFT_SKIP);
    expect(ksft.results.map((r) => r.status)).toEqual(['skip']);
  });

  test('after results without a plan: counts, with the plan of 0 reported as a mismatch', async () => {
    const { out } = await program((ksft) => {
      ksft.testResultPass('Test a');
      ksft.exitSkip('no more');
    });
    expect(out).toBe(
      [
        'ok 1 Test a',
        'ok 2 # SKIP no more',
        '# 1 skipped test(s) detected. Consider enabling relevant config options to improve coverage.',
        '# Planned tests != run tests (0 != 2)',
        '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0',
        '',
      ].join('\n'),
    );
  });
});

describe('ksft_exit_fail_msg()', () => {
  test('prints Bail out! and the counts, exits 1, keeps the message', async () => {
    const { out, code, ksft } = await program((ksft) => {
      ksft.setPlan(2);
      ksft.testResultPass('Test a');
      ksft.exitFailMsg('mmap failed');
    });
    expect(out).toBe(
      '1..2\nok 1 Test a\nBail out! mmap failed\n# Planned tests != run tests (2 != 1)\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n',
    );
    expect(code).toBe(KSFT_FAIL);
    expect(ksft.bailOut).toBe('mmap failed');
  });

  test('a C message without "\\n" runs into the counts, as in C', async () => {
    const { out } = await program((ksft) => ksft.exitFailMsg('read and ioctl return unmatched results for soft-dirty: 1 0', { newline: false }));
    expect(out).toBe('Bail out! read and ioctl return unmatched results for soft-dirty: 1 0# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
  });
});

test('printf and exit: plain stdio, without kselftest counts', async () => {
  const { out, code } = await program((ksft) => {
    ksft.printf('thp_read_string: Parse failure\n');
    ksft.exit(1);
  });
  expect(out).toBe('thp_read_string: Parse failure\n');
  expect(code).toBe(1);
});

test('atexit handlers run at exit and when main returns, latest first', async () => {
  const order: string[] = [];
  const { code } = await program((ksft) => {
    ksft.atexit(async () => void order.push('first'));
    ksft.atexit(async () => void order.push('second'));
    ksft.exitFailMsg('mmap failed');
  });
  expect(order).toEqual(['second', 'first']);
  expect(code).toBe(KSFT_FAIL);
  const returned: string[] = [];
  await program((ksft) => ksft.atexit(async () => void returned.push('ran')));
  expect(returned).toEqual(['ran']);
});

test('ksft_exit_fail_perror() names the errno as strerror() does', async () => {
  const { out } = await program((ksft) => ksft.exitFailPerror('read_file()', new Errno('ENOENT', 'open')));
  expect(out).toBe('Bail out! read_file(): No such file or directory (2)\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
});
