// Builds testinit.c, the stand-in /init that proves the boot pipeline
// without the agent: static, for the guest's architecture.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execTool } from './exec.ts';
import type { GuestArch } from './kernel-cache.ts';

const SOURCE = fileURLToPath(new URL('testinit.c', import.meta.url));

/** The cross compiler for each guest (Debian's triplet names, whatever the host). */
export const TEST_INIT_COMPILER: Readonly<Record<GuestArch, string>> = {
  arm64: 'aarch64-linux-gnu-gcc',
  x86_64: 'x86_64-linux-gnu-gcc',
};

/** Compile into `outDir`; returns the binary's path. */
export async function buildTestInit(arch: GuestArch, outDir: string): Promise<string> {
  const out = join(outDir, `testinit-${arch}`);
  await execTool(TEST_INIT_COMPILER[arch], ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, SOURCE]);
  return out;
}
