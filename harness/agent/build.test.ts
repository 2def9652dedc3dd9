// The model's /proc/self/exe stands in for the agent that is /init in the
// arm64 guests: a test that maps it (pagemap_ioctl's "Memory mapped file")
// must map as many pages on both, or the descriptor comparison differs.

import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { expect, test } from 'vitest';
import { EXE_SIZE } from '../../model/mm/system.ts';
import { buildAgentFor } from './build.ts';

const crossCompiler = (() => {
  try {
    execFileSync('aarch64-linux-gnu-gcc', ['-dumpmachine'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test.skipIf(!crossCompiler)('the model /init spans as many pages as the arm64 agent (skipped without aarch64-linux-gnu-gcc)', { timeout: 120_000 }, async () => {
  const pages = (size: bigint) => (size + 4095n) / 4096n;
  const agent = BigInt(statSync(await buildAgentFor('aarch64')).size);
  expect(pages(EXE_SIZE), `model/mm/system.ts EXE_SIZE: set it to the agent's size, 0x${agent.toString(16)}`).toBe(pages(agent));
});
