// exec: targets: a program that speaks the agent's protocol, and one that
// breaks it mid-suite (garbage, death, silence, a reply of the wrong shape):
// each costs the suite it broke an error that says why, and the run goes on.
import { describe, expect, test } from 'vitest';
import { runSuites } from '../runner.ts';
import { SUITES } from '../../suites/index.ts';
import { execTarget } from './exec.ts';
import { resolveTarget } from './index.ts';

const BROKEN = `node ${new URL('../fixtures/broken-agent.mjs', import.meta.url).pathname}`;
const quiet = { stdout: () => {}, stderr: () => {} };
const two = SUITES.filter((s) => s.name === 'madv_populate' || s.name === 'pte-states');

describe('an exec: target that breaks the protocol mid-suite', { timeout: 60_000 }, () => {
  test.each([
    ['garbage', 'agent: malformed reply: }{ not json'],
    ['die', 'agent: connection closed: the agent exited with status 3; stderr: broken-agent: giving up'],
    ['wrong', 'agent: mmap reply: "addr" is not a 64-bit hex string'],
    ['hang', 'agent: no reply to mmap in 0.5 s; the agent is not used again'],
  ])('%s: each suite ends in an error naming it, and the run goes on to the next', async (how, why) => {
    const target = await execTarget(`${BROKEN} ${how}`, { timeoutMs: 500 });
    const report = await runSuites(target, 'broken', two, quiet);
    await target.close();
    expect(report.suites.map((s) => [s.name, s.exit.status, s.exit.reason])).toEqual(two.map((s) => [s.name, 'error', why]));
  });
});

describe('exec: target names', () => {
  test('a command that does not run is refused in one line, with what the shell said', async () => {
    await expect(resolveTarget('exec:/nonexistent/model')).rejects.toThrow(/^agent: connection closed: the agent exited with status 127; stderr: .*\/nonexistent\/model: not found$/);
  });

  test('no command is refused', async () => {
    await expect(resolveTarget('exec:')).rejects.toThrow('no command (use exec:CMD');
  });
});
