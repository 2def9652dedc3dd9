// tools/testing/selftests/mm/hugepage_settings.c: the part soft-dirty.c
// uses, thp_is_enabled(), with its failure paths (they print with plain
// printf/perror and exit(EXIT_FAILURE), without kselftest's counts).

import { isErr } from '../uapi/linux.ts';
import { strerror } from './strerror.ts';
import type { Selftest } from './suite.ts';

const THP_SYSFS = '/sys/kernel/mm/transparent_hugepage/';
const EXIT_FAILURE = 1;

const thpEnabledStrings = ['never', 'always', 'inherit', 'madvise'] as const;

/** The index in `strings` of the bracketed word in THP_SYSFS/name ("always [madvise] never"). */
async function thpReadString(t: Selftest, name: string, strings: readonly string[]): Promise<number> {
  const path = `${THP_SYSFS}${name}`;

  const buf = await t.proc.readFile(path);
  if (isErr(buf)) {
    t.ksft.printf(`${path}: ${strerror(buf)}\n`); // perror(): stderr, merged into the output by the runner
    t.ksft.exit(EXIT_FAILURE);
  }

  const open = buf.indexOf('[');
  if (open < 0) {
    t.ksft.printf('thp_read_string: Parse failure\n');
    t.ksft.exit(EXIT_FAILURE);
  }

  const close = buf.indexOf(']', open + 1);
  if (close < 0) {
    t.ksft.printf('thp_read_string: Parse failure\n');
    t.ksft.exit(EXIT_FAILURE);
  }

  const ret = strings.indexOf(buf.slice(open + 1, close));
  if (ret >= 0) return ret;

  t.ksft.printf(`Failed to parse ${name}\n`);
  t.ksft.exit(EXIT_FAILURE);
}

/** access(THP_SYSFS, F_OK): the Proc API has no access(); the directory is there when its files are. */
async function thpAvailable(t: Selftest): Promise<boolean> {
  const enabled = await t.proc.readFile(`${THP_SYSFS}enabled`);
  return !(isErr(enabled) && enabled.name === 'ENOENT');
}

export async function thpIsEnabled(t: Selftest): Promise<boolean> {
  if (!(await thpAvailable(t))) return false;

  const mode = await thpReadString(t, 'enabled', thpEnabledStrings);

  /* THP is considered enabled if it's either "always" or "madvise" */
  return mode === 1 || mode === 3;
}
