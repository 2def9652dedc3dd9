// Where `npm run setup:kernels` keeps Debian's kernels, and how a target
// finds one: <cache>/kernels/<suite>-<debian arch>/ holds vmlinuz, config
// (the kernel's /boot/config-*) and manifest.json (what they came from);
// and, to build kmod/ for that kernel, Debian's headers unpacked under
// headers/ (headers.json says from what), and the built modules under kmod/.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The guest architectures, named as the harness names them. */
export type GuestArch = 'arm64' | 'x86_64';
/** stable: trixie's kernel (6.12); current: sid's (7.x). */
export type KernelGeneration = 'stable' | 'current';

export const GUEST_ARCHES: readonly GuestArch[] = ['arm64', 'x86_64'];
export const GENERATIONS: readonly KernelGeneration[] = ['stable', 'current'];

export const SUITE: Readonly<Record<KernelGeneration, string>> = { stable: 'trixie', current: 'sid' };
export const DEBIAN_ARCH: Readonly<Record<GuestArch, 'arm64' | 'amd64'>> = { arm64: 'arm64', x86_64: 'amd64' };

export interface CachedFile {
  /** relative to the kernel's directory */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface PackageRef {
  readonly package: string;
  readonly version: string;
  readonly sha256: string;
}

export interface KernelManifest {
  readonly suite: string;
  readonly debianArch: string;
  /** the kernel release, as uname -r prints it */
  readonly release: string;
  /** the .deb files the kernel came from */
  readonly packages: readonly PackageRef[];
  readonly vmlinuz: CachedFile;
  readonly config: CachedFile;
  /** modules the guest loads, by name (brd: the RAM disk it swaps to) */
  readonly modules?: Readonly<Record<string, CachedFile>>;
}

/** The kernel's own modules a guest needs (their .ko.xz files, kept beside vmlinuz). */
export const GUEST_MODULES = ['brd'] as const;
export type GuestModule = (typeof GUEST_MODULES)[number];

export interface CachedKernel {
  readonly arch: GuestArch;
  readonly generation: KernelGeneration;
  readonly release: string;
  /** absolute paths */
  readonly vmlinuz: string;
  readonly config: string;
  readonly modules: Readonly<Record<GuestModule, string>>;
  /** Debian's headers for this release, when setup has unpacked them (tree: what make -C takes) */
  readonly headers: HeadersManifest | undefined;
}

/** Debian's headers for one kernel, as setup unpacked them to build modules against. */
export interface HeadersManifest {
  /** the kernel release they are for */
  readonly release: string;
  readonly packages: readonly PackageRef[];
  /** the build tree, absolute once read (relative to the kernel's directory in the file) */
  readonly tree: string;
}

/** $MMCONFORM_CACHE, else $XDG_CACHE_HOME/mmconform, else ~/.cache/mmconform. */
export function cacheRoot(): string {
  const env = process.env;
  if (env['MMCONFORM_CACHE']) return env['MMCONFORM_CACHE'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'mmconform');
}

export function kernelDir(arch: GuestArch, generation: KernelGeneration): string {
  return join(cacheRoot(), 'kernels', `${SUITE[generation]}-${DEBIAN_ARCH[arch]}`);
}

export const MANIFEST = 'manifest.json';
export const HEADERS_MANIFEST = 'headers.json';
/** under the kernel's directory: the unpacked packages (headers.json), and the modules built against them */
export const HEADERS_DIR = 'headers';
export const KMOD_BUILDS_DIR = 'kmod';

export function readManifest(dir: string): KernelManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as KernelManifest;
  } catch {
    return undefined;
  }
}

/** A manifest with every module the guest needs: one from before a module was needed is as good as none (setup fetches again). */
export function complete(m: KernelManifest | undefined): m is KernelManifest & { readonly modules: Readonly<Record<GuestModule, CachedFile>> } {
  return m !== undefined && GUEST_MODULES.every((name) => m.modules?.[name] !== undefined);
}

/** The headers unpacked for `release` in dir, or undefined (none, another kernel's, or their tree gone). */
function readHeaders(dir: string, release: string): HeadersManifest | undefined {
  try {
    const h = JSON.parse(readFileSync(join(dir, HEADERS_MANIFEST), 'utf8')) as HeadersManifest;
    const tree = join(dir, h.tree);
    return h.release === release && existsSync(join(tree, 'Makefile')) ? { ...h, tree } : undefined;
  } catch {
    return undefined;
  }
}

/** The cached kernel, or undefined when setup has not fetched it. */
export function cachedKernel(arch: GuestArch, generation: KernelGeneration): CachedKernel | undefined {
  const dir = kernelDir(arch, generation);
  const m = readManifest(dir);
  if (!complete(m)) return undefined;
  const modules = Object.fromEntries(GUEST_MODULES.map((name) => [name, join(dir, m.modules[name].path)])) as Record<GuestModule, string>;
  return {
    arch,
    generation,
    release: m.release,
    vmlinuz: join(dir, m.vmlinuz.path),
    config: join(dir, m.config.path),
    modules,
    headers: readHeaders(dir, m.release),
  };
}

/** The cached kernel image; throws a one-line error that says how to get it. */
export function kernelPath(arch: GuestArch, generation: KernelGeneration): string {
  const k = cachedKernel(arch, generation);
  if (k === undefined) throw new Error(missingKernel(arch, generation));
  return k.vmlinuz;
}

/** What is missing and how to get it, in one line. */
export function missingKernel(arch: GuestArch, generation: KernelGeneration): string {
  return `no ${SUITE[generation]} ${DEBIAN_ARCH[arch]} kernel in ${kernelDir(arch, generation)}: run npm run setup:kernels`;
}
