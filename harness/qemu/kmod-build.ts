// kmod/ (mmconform_pgwalk, the page-table reader) built for one cached
// kernel against the Debian headers setup unpacked beside it
// (kernel-headers.ts): with the cross compiler for arm64 guests, the
// machine's gcc for amd64 ones. Debian's kernels were built with gcc 14 or
// 16; gcc 12 builds this small module, less two things it cannot do.
// Cached per kernel by a hash of kmod/'s files, the headers' packages and
// the compiler, so an edit to kmod/ rebuilds it; built in a directory of its
// own, then renamed into place, so concurrent builds never see half a file.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execTool, ToolFailed } from './exec.ts';
import { DEBIAN_ARCH, kernelDir, KMOD_BUILDS_DIR, SUITE, type CachedKernel, type GuestArch } from './kernel-cache.ts';

const KMOD_DIR = fileURLToPath(new URL('../../kmod/', import.meta.url));
const PGWALK_MODULE = 'mmconform_pgwalk';

/** The kernel's ARCH= and the compiler prefix for its guests. */
const KBUILD_ARCH: Readonly<Record<GuestArch, string>> = { arm64: 'arm64', x86_64: 'x86' };
const COMPILER_PREFIX: Readonly<Record<GuestArch, string>> = { arm64: 'aarch64-linux-gnu-', x86_64: 'x86_64-linux-gnu-' };

/**
 * make's arguments past -C and M=. This machine's gcc 12 lacks
 * -fmin-function-alignment (the kernel's compiler had it), and there is no
 * pahole here to make BTF with.
 */
function makeArgs(arch: GuestArch): string[] {
  const prefix = COMPILER_PREFIX[arch];
  return [
    `ARCH=${KBUILD_ARCH[arch]}`,
    `CROSS_COMPILE=${prefix}`,
    `CC=${prefix}gcc`,
    'CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=',
    'CONFIG_DEBUG_INFO_BTF_MODULES=',
    'modules',
  ];
}

export interface BuiltModule {
  readonly path: string;
  /** false: it was in the cache */
  readonly built: boolean;
}

/** The module for `kernel`, built now or found built; a one-line Error when it cannot be. */
export async function buildPgwalk(kernel: CachedKernel): Promise<BuiltModule> {
  const label = `${SUITE[kernel.generation]} ${DEBIAN_ARCH[kernel.arch]} ${kernel.release}`;
  if (kernel.headers === undefined) throw new Error(`no kernel headers for ${label}: run npm run setup:kernels`);
  const prefix = COMPILER_PREFIX[kernel.arch];
  const compiler = (await execTool(`${prefix}gcc`, ['--version'])).split('\n')[0] ?? '';
  // Its sources only: a build by hand in kmod/ leaves objects there.
  const files = readdirSync(KMOD_DIR)
    .filter((f) => /^(Kbuild|Makefile)$|\.[ch]$/.test(f))
    .sort();
  const hash = createHash('sha256').update(JSON.stringify([kernel.headers.packages, compiler, makeArgs(kernel.arch)]));
  for (const f of files) hash.update(`\0${f}\0`).update(readFileSync(join(KMOD_DIR, f)));
  const dir = join(kernelDir(kernel.arch, kernel.generation), KMOD_BUILDS_DIR);
  const path = join(dir, `${PGWALK_MODULE}-${hash.digest('hex').slice(0, 16)}.ko`);
  if (existsSync(path)) return { path, built: false };

  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, '.build-'));
  try {
    for (const f of files) copyFileSync(join(KMOD_DIR, f), join(work, f));
    // The compiler's first error, or make's, says why in one line.
    await execTool('make', ['-C', kernel.headers.tree, `M=${work}`, ...makeArgs(kernel.arch)], { why: /\berror\b|\*\*\*/i }).catch((e: Error) => {
      throw new Error(`building kmod/ for ${label} failed: ${e instanceof ToolFailed ? e.why.replaceAll(`${work}/`, 'kmod/') : e.message}`);
    });
    const ko = join(work, `${PGWALK_MODULE}.ko`);
    // Debug info is nine tenths of it, and the guest loads it on every boot.
    await execTool(`${prefix}strip`, ['--strip-debug', ko]);
    renameSync(ko, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // Builds of earlier sources of kmod/ serve no one now.
  for (const old of readdirSync(dir).filter((f) => f.startsWith(`${PGWALK_MODULE}-`) && join(dir, f) !== path)) rmSync(join(dir, old), { force: true });
  return { path, built: true };
}
