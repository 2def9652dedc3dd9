// kselftest.h for ported tests: the same calls in camelCase, printing the
// same bytes, so a port's output compares line for line with the C test's.
// C messages end in "\n"; here the message comes without it and each call
// adds it. Every result is also kept as a record for the JSON and JUnit
// reports. The exit calls end the program as exit() does in C: by throwing
// a KsftExit that only runMain() catches.

import type { Errno } from '../uapi/linux.ts';
import { strerror } from './strerror.ts';

export const KSFT_PASS = 0;
export const KSFT_FAIL = 1;
export const KSFT_XFAIL = 2;
export const KSFT_XPASS = 3;
export const KSFT_SKIP = 4;

export type ResultStatus = 'pass' | 'fail' | 'skip' | 'xfail' | 'error';

export interface KsftResult {
  /** the number printed after "ok"/"not ok" */
  readonly n: number;
  /** the message exactly as printed, without the newline */
  readonly name: string;
  readonly status: ResultStatus;
  /** the SKIP/XFAIL text (the message itself) or an error's text; null otherwise */
  readonly reason: string | null;
  /** time since the previous result (or the start) */
  readonly ms: number;
}

/** exit(): unwinds the test program to runMain(). Not an Error: it is no failure. */
class KsftExit {
  constructor(readonly code: number) {}
}

/** How a piece of the program ended: its exit status, or 0 when it returned; other exceptions pass through. */
async function exitCode(run: () => Promise<void>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (e) {
    if (e instanceof KsftExit) return e.code;
    throw e;
  }
}

export class Ksft {
  private readonly recorded: KsftResult[] = [];
  /** ksft_plan: 0 until set, as in C (ksft_exit_skip tests it) */
  private ksftPlan = 0;
  private printedPlan: number | null = null;
  private bailOutMessage: string | null = null;
  private skipMessage: string | null = null;
  private last: number;
  private readonly exitHandlers: (() => Promise<void>)[] = [];

  /**
   * @param stdout where the program's output goes (also its stderr: the
   *   kselftest runner merges the two with 2>&1)
   */
  constructor(
    private readonly stdout: (text: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
  }

  get results(): readonly KsftResult[] {
    return this.recorded;
  }
  /** the N of the "1..N" line printed, if any ("1..0 # SKIP" counts as 0) */
  get plan(): number | null {
    return this.printedPlan;
  }
  /** what ksft_exit_fail_msg() printed after "Bail out! ", if it was called */
  get bailOut(): string | null {
    return this.bailOutMessage;
  }
  /** the message of ksft_exit_skip(), if it was called */
  get exitSkipReason(): string | null {
    return this.skipMessage;
  }

  /** Runs the program's main(); resolves to its exit status. Other exceptions pass through. */
  async runMain(main: () => Promise<void>): Promise<number> {
    let code = await exitCode(main); // 0 when main() returned without calling exit: C's `return 0`
    // exit() runs the atexit() handlers, latest first; a handler that exits again sets the status
    for (const handler of this.exitHandlers.splice(0).reverse()) code = (await exitCode(handler)) || code;
    return code;
  }

  /** atexit(): the handler runs when the program exits or main() returns, not when a signal kills it. */
  atexit(handler: () => Promise<void>): void {
    this.exitHandlers.push(handler);
  }

  /** printf() to the program's stdout, as is (for code outside kselftest.h). */
  printf(text: string): void {
    this.stdout(text);
  }

  /** exit(code) without kselftest's counts. */
  exit(code: number): never {
    throw new KsftExit(code);
  }

  printHeader(): void {
    // C skips this line when KSFT_TAP_LEVEL is set; kselftest's runner.sh does not set it.
    this.stdout('TAP version 13\n');
  }

  setPlan(plan: number): void {
    this.ksftPlan = plan;
    this.printedPlan = plan;
    this.stdout(`1..${plan}\n`);
  }

  printMsg(msg: string): void {
    this.stdout(`# ${msg}\n`);
  }

  testNum(): number {
    return this.recorded.length;
  }

  getFailCnt(): number {
    return this.count('fail');
  }

  testResult(condition: boolean, msg: string): void {
    if (condition) this.testResultPass(msg);
    else this.testResultFail(msg);
  }

  testResultPass(msg: string): void {
    this.record('pass', msg, null);
    this.stdout(`ok ${this.testNum()} ${msg}\n`);
  }

  testResultFail(msg: string): void {
    this.record('fail', msg, null);
    this.stdout(`not ok ${this.testNum()} ${msg}\n`);
  }

  testResultSkip(msg: string): void {
    this.record('skip', msg, msg);
    this.stdout(`ok ${this.testNum()} # SKIP ${msg}\n`);
  }

  testResultXfail(msg: string): void {
    this.record('xfail', msg, msg);
    this.stdout(`ok ${this.testNum()} # XFAIL ${msg}\n`);
  }

  exitPass(): never {
    this.printCnts();
    this.exit(KSFT_PASS);
  }

  exitFail(): never {
    this.printCnts();
    this.exit(KSFT_FAIL);
  }

  /**
   * ksft_exit_fail_msg(). A few C messages lack the final "\n" (then the
   * counts follow on the same line): pass { newline: false } for those.
   */
  exitFailMsg(msg: string, { newline = true }: { newline?: boolean } = {}): never {
    this.bailOutMessage = msg;
    this.stdout(`Bail out! ${msg}${newline ? '\n' : ''}`);
    this.printCnts();
    this.exit(KSFT_FAIL);
  }

  /** ksft_exit_fail_perror(): errno null stands for an errno no call has set (0) */
  exitFailPerror(msg: string, errno: Errno | null): never {
    this.exitFailMsg(`${msg}: ${errno === null ? 'Success' : strerror(errno)} (${errno?.code ?? 0})`);
  }

  /**
   * ksft_exit_skip(): before any plan or result the whole program is skipped
   * ("1..0 # SKIP msg"); after them it counts as one more skipped result.
   */
  exitSkip(msg: string): never {
    this.skipMessage = msg;
    if (this.ksftPlan || this.testNum()) {
      this.record('skip', msg, msg);
      this.stdout(`ok ${this.testNum()} # SKIP ${msg}\n`);
    } else {
      this.printedPlan = 0;
      this.stdout(`1..0 # SKIP ${msg}\n`);
    }
    if (this.testNum()) this.printCnts();
    this.exit(KSFT_SKIP);
  }

  /** ksft_finished(): pass when every planned test passed, skipped or xfailed. */
  finished(): never {
    if (this.ksftPlan === this.count('pass') + this.count('xfail') + this.count('skip')) this.exitPass();
    this.exitFail();
  }

  private printCnts(): void {
    const skip = this.count('skip');
    if (skip > 0)
      this.stdout(`# ${skip} skipped test(s) detected. Consider enabling relevant config options to improve coverage.\n`);
    if (this.ksftPlan !== this.testNum()) this.stdout(`# Planned tests != run tests (${this.ksftPlan} != ${this.testNum()})\n`);
    // No port reports XPASS; errors are the runner's, never printed by the program.
    this.stdout(
      `# Totals: pass:${this.count('pass')} fail:${this.count('fail')} xfail:${this.count('xfail')} xpass:0 skip:${skip} error:0\n`,
    );
  }

  private count(status: ResultStatus): number {
    return this.recorded.filter((r) => r.status === status).length;
  }

  private record(status: ResultStatus, name: string, reason: string | null): void {
    const now = this.now();
    this.recorded.push({ n: this.recorded.length + 1, name, status, reason, ms: now - this.last });
    this.last = now;
  }
}
