// Builds the agent (the .c and .h files beside this one) as a static binary
// with the machine's C compiler, or a cross compiler for a guest's
// architecture. Builds are cached by a hash of the sources, the flags and
// the compiler, under node_modules/.cache/mmconform (or MMCONFORM_CACHE),
// and written under a temporary name then renamed, so concurrent builds
// (vitest's workers) never see half a binary.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { machine as hostMachine, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const AGENT_DIR = fileURLToPath(new URL('.', import.meta.url));
const PACKAGE_DIR = join(AGENT_DIR, '..', '..');
/** The page-table reader's ioctl, which proc.c includes from kmod/: a change to it is a change to the agent. */
const PGWALK_UAPI = join(PACKAGE_DIR, 'kmod', 'mmconform_pgwalk.h');
export const AGENT_FLAGS = ['-static', '-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-pthread'] as const;

/** No compiler to build the agent with: a target that needs it cannot run here. */
export class NoCompilerError extends Error {
  override name = 'NoCompilerError';
}

export interface BuildOptions {
  /** the compiler (default $CC, else cc) */
  readonly cc?: string;
  /** where built agents are kept (default $MMCONFORM_CACHE, else node_modules/.cache/mmconform) */
  readonly cacheDir?: string;
}

/** What `cc` is: its target triple and version, so a different compiler gets its own build. */
async function compilerIdentity(cc: string): Promise<{ triple: string; version: string }> {
  try {
    const triple = (await run(cc, ['-dumpmachine'])).stdout.trim();
    const version = (await run(cc, ['--version'])).stdout.split('\n')[0] ?? '';
    return { triple, version };
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? e.code : undefined;
    if (code === 'ENOENT') throw new NoCompilerError(`no C compiler to build the agent: ${cc} not found (set CC, or install gcc)`);
    throw new NoCompilerError(`no usable C compiler to build the agent: ${cc} -dumpmachine failed`);
  }
}

async function sources(): Promise<string[]> {
  return (await readdir(AGENT_DIR)).filter((f) => /\.[ch]$/.test(f)).sort();
}

/** The first writable of $MMCONFORM_CACHE, node_modules/.cache/mmconform, and a per-user temporary directory. */
async function cacheRoot(): Promise<string> {
  const candidates = [
    process.env['MMCONFORM_CACHE'],
    join(PACKAGE_DIR, 'node_modules', '.cache', 'mmconform'),
    join(tmpdir(), `mmconform-cache-${userInfo().uid}`),
  ];
  for (const dir of candidates) {
    if (!dir) continue;
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
      return dir;
    } catch {
      // not writable: try the next
    }
  }
  throw new Error('no writable cache directory for the agent (set MMCONFORM_CACHE)');
}

/** One line from a compiler's complaint: the first error, else the first line. */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  return (lines.find((l) => /error/i.test(l)) ?? lines[0] ?? 'no output').trim();
}

/** Builds the agent (or finds it cached); resolves to the binary's path. */
export async function buildAgent(options: BuildOptions = {}): Promise<string> {
  const cc = options.cc ?? process.env['CC'] ?? 'cc';
  const { triple, version } = await compilerIdentity(cc);
  const files = await sources();
  const hash = createHash('sha256').update(JSON.stringify([AGENT_FLAGS, triple, version]));
  for (const f of files) hash.update(`\0${f}\0`).update(await readFile(join(AGENT_DIR, f)));
  hash.update('\0kmod\0').update(await readFile(PGWALK_UAPI));
  const dir = join(options.cacheDir ?? (await cacheRoot()), `agent-${triple}-${hash.digest('hex').slice(0, 16)}`);
  const binary = join(dir, 'mmconform-agent');
  try {
    await access(binary, constants.X_OK);
    return binary;
  } catch {
    // not built yet
  }
  await mkdir(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await run(cc, [...AGENT_FLAGS, '-o', partial, ...files.filter((f) => f.endsWith('.c'))], { cwd: AGENT_DIR, timeout: 120_000 });
    await rename(partial, binary);
  } catch (e) {
    await rm(partial, { force: true });
    const stderr = e instanceof Error && 'stderr' in e ? String(e.stderr) : String(e);
    // a compiler without a static C library cannot build it either: that is the machine's lack, not a bug
    if (/cannot find -l(c|pthread)\b/.test(stderr)) throw new NoCompilerError(`${cc} has no static C library to build the agent with (install libc6-dev or the like)`);
    throw new Error(`building the agent with ${cc} failed: ${firstError(stderr)}`);
  }
  return binary;
}

/** uname -m names */
export type AgentMachine = 'aarch64' | 'x86_64';

/**
 * The agent for a guest of this architecture: built with the machine's own
 * compiler when it is that architecture, else with MACHINE-linux-gnu-gcc
 * (e.g. aarch64-linux-gnu-gcc on an x86_64 host); NoCompilerError when
 * there is none.
 */
export function buildAgentFor(machine: AgentMachine, options: Omit<BuildOptions, 'cc'> = {}): Promise<string> {
  return buildAgent(hostMachine() === machine ? options : { ...options, cc: `${machine}-linux-gnu-gcc` });
}
