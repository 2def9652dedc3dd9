// What a ported selftest is to the runner, and what it gets to run with.

import type { Ksft } from './ksft.ts';
import type { Proc } from './target.ts';

/** One run of a test program: its process, its kselftest state, and getpagesize(). */
export interface Selftest {
  readonly proc: Proc;
  readonly ksft: Ksft;
  /** getpagesize() (vm_util's psize()), from the target's info */
  readonly pagesize: bigint;
  /** the target's arch, as its info() names it ("arm64", "x86_64"): what a C program's sizeof()s depend on */
  readonly arch?: string;
}

export interface Suite {
  /** the C program's name, as kselftest's runner prints it: "soft-dirty" */
  readonly name: string;
  /** the C source it ports, from the top of the kernel tree */
  readonly source: string;
  /**
   * The result names a complete run prints, in order (checked against a run
   * in suites/selftests/tests.test.ts, so it cannot drift from the port).
   */
  readonly tests: readonly string[];
  /** main(): ends through one of ksft's exit calls, as the C does */
  run(t: Selftest): Promise<void>;
  /** the suite as its C program runs with a test-name filter (uffd-unit-tests' -f), where it takes one */
  readonly filtered?: (filter: string) => Suite;
}
