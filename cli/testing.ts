// Runs `mmconform` in-process for tests, capturing what it writes.

import { expect } from 'vitest';
import { main } from './main.ts';

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function mmconform(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** Bad input: exit status 2, nothing on stdout, one line on stderr that holds `message`. */
export async function expectUsageError(argv: readonly string[], message: string): Promise<void> {
  const { code, stdout, stderr } = await mmconform(...argv);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toMatch(/^mmconform: [^\n]+\n$/);
  expect(stderr).toContain(message);
}
