// Debian's headers for a cached kernel, so that kmod/ can be built for it:
// linux-headers-RELEASE, the common headers it includes, and linux-kbuild
// (fixdep, modpost, objtool: programs that run on this machine, so built
// for its architecture), unpacked with dpkg-deb under the kernel's
// directory; nothing is installed. Two things make them work from there:
// - the flavour's Makefile includes the common headers by absolute path
//   under /usr/src: that path is rewritten to where they were unpacked;
// - kbuild's programs may need a newer C library than this machine's (trixie's
//   modpost and objtool need glibc 2.38): those run through the suite's own
//   libc6, unpacked beside them, behind a small shell script in their place.

import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dependencyNames, type SuiteArchive } from './debian-archive.ts';
import { execTool } from './exec.ts';
import { DEBIAN_ARCH, HEADERS_DIR, HEADERS_MANIFEST, kernelDir, type GuestArch, type HeadersManifest, type KernelGeneration, type PackageRef } from './kernel-cache.ts';

type Say = (line: string) => void;

/** This machine's Debian architecture: kbuild's programs run here. */
export async function hostDebianArch(): Promise<string> {
  return (await execTool('dpkg', ['--print-architecture'])).trim();
}

/** Fetches and unpacks the headers for the cached kernel `release`; a one-line Error when it cannot. */
export async function fetchHeaders(
  archive: SuiteArchive,
  arch: GuestArch,
  generation: KernelGeneration,
  release: string,
  hostArch: string,
  say: Say,
): Promise<void> {
  const label = `${archive.suite} ${DEBIAN_ARCH[arch]}`;
  const flavour = `linux-headers-${release}`;
  const depends = dependencyNames((await archive.show(`${flavour}:${DEBIAN_ARCH[arch]}`)).get('Depends'));
  const common = depends.find((n) => n.startsWith('linux-headers-') && n.endsWith('-common'));
  const kbuild = depends.find((n) => n.startsWith('linux-kbuild-'));
  if (common === undefined || kbuild === undefined) throw new Error(`${flavour} depends on no linux-headers-*-common or linux-kbuild-*`);
  const wanted = [`${flavour}:${DEBIAN_ARCH[arch]}`, `${common}:all`, `${kbuild}:${hostArch}`];

  const dir = kernelDir(arch, generation);
  const final = join(dir, HEADERS_DIR);
  // An interrupted fetch must not leave a manifest that vouches for half a tree.
  rmSync(join(dir, HEADERS_MANIFEST), { force: true });
  const work = mkdtempSync(join(dir, '.headers-'));
  try {
    const t0 = Date.now();
    const packages = await download(archive, wanted, work);
    const root = join(work, 'root');
    await unpack(work, root);
    // Written with the paths they will have once moved into place.
    rewriteUsrSrc(join(root, 'usr', 'src', flavour, 'Makefile'), join(final, 'usr', 'src'));
    const needy = newerLibcTools(join(root, 'usr', 'lib', kbuild), await hostGlibc());
    if (needy.length > 0) {
      packages.push(...(await download(archive, [`libc6:${hostArch}`], work)));
      await unpack(work, root);
      const libc = libcOf(root);
      const moved = (path: string): string => join(final, path.slice(root.length));
      for (const tool of needy) wrapTool(tool, moved(tool), { dir: moved(libc.dir), loader: moved(libc.loader) });
    }
    rmSync(final, { recursive: true, force: true });
    renameSync(root, final);
    const manifest: HeadersManifest = { release, packages, tree: join(HEADERS_DIR, 'usr', 'src', flavour) };
    writeFileSync(join(dir, HEADERS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    const through = needy.length > 0 ? `; ${needy.length} kbuild programs run through ${archive.suite}'s libc6` : '';
    say(`${label}: ${packages.map((p) => `${p.package} ${p.version}`).join(', ')} unpacked in ${((Date.now() - t0) / 1000).toFixed(1)} s${through}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Downloads `pkgs` (arch-qualified) into dir; what they are, for the manifest. */
async function download(archive: SuiteArchive, pkgs: readonly string[], dir: string): Promise<PackageRef[]> {
  const refs: PackageRef[] = [];
  for (const pkg of pkgs) {
    const s = await archive.show(pkg);
    refs.push({ package: pkg.replace(/:.*$/, ''), version: s.get('Version') ?? '', sha256: s.get('SHA256') ?? '' });
  }
  await archive.download(pkgs, dir);
  return refs;
}

/** Unpacks every .deb in dir into root, and removes it. */
async function unpack(dir: string, root: string): Promise<void> {
  for (const deb of readdirSync(dir).filter((f) => f.endsWith('.deb'))) {
    await execTool('dpkg-deb', ['-x', join(dir, deb), root]);
    rmSync(join(dir, deb));
  }
}

function rewriteUsrSrc(makefile: string, usrSrc: string): void {
  writeFileSync(makefile, readFileSync(makefile, 'utf8').replaceAll('/usr/src/', `${usrSrc}/`));
}

/** "glibc 2.36" as [2, 36]. */
async function hostGlibc(): Promise<readonly [number, number]> {
  const m = /(\d+)\.(\d+)/.exec(await execTool('getconf', ['GNU_LIBC_VERSION']));
  if (m === null) throw new Error('getconf GNU_LIBC_VERSION names no glibc version');
  return [Number(m[1]), Number(m[2])];
}

/** The ELF programs under dir that ask for a glibc symbol version newer than `have`. */
function newerLibcTools(dir: string, have: readonly [number, number]): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    const st = statSync(path);
    if (!st.isFile() || (st.mode & 0o111) === 0) continue;
    const bytes = readFileSync(path);
    if (bytes.subarray(0, 4).toString('latin1') !== '\x7fELF') continue;
    // The version needs (GLIBC_2.38, ...) are strings in the file.
    const needs = [...bytes.toString('latin1').matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    if (needs.some(([major, minor]) => major > have[0] || (major === have[0] && minor > have[1]))) found.push(path);
  }
  return found;
}

interface Libc {
  /** its multiarch directory (usr/lib/x86_64-linux-gnu) */
  readonly dir: string;
  /** its dynamic loader (ld-linux-x86-64.so.2) */
  readonly loader: string;
}

/** Where the unpacked libc6 keeps its libraries and its dynamic loader. */
function libcOf(root: string): Libc {
  const lib = join(root, 'usr', 'lib');
  for (const triplet of readdirSync(lib).filter((d) => d.endsWith('-linux-gnu'))) {
    const loader = readdirSync(join(lib, triplet)).find((f) => /^ld-linux.*\.so\.\d+$/.test(f));
    if (loader !== undefined) return { dir: join(lib, triplet), loader: join(lib, triplet, loader) };
  }
  throw new Error('libc6 holds no dynamic loader (usr/lib/*-linux-gnu/ld-linux*.so.*)');
}

/**
 * Moves the program at `path` aside (PROGRAM.elf) and puts a script in its
 * place that runs it with the unpacked loader and C library; `final` and
 * `libc` are where those will be once the tree is moved into place. The
 * other libraries it needs (libelf, libz) the loader finds on this machine.
 */
function wrapTool(path: string, final: string, libc: Libc): void {
  renameSync(path, `${path}.elf`);
  const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  writeFileSync(path, `#!/bin/sh\nexec ${quote(libc.loader)} --library-path ${quote(libc.dir)} ${quote(`${final}.elf`)} "$@"\n`);
  chmodSync(path, 0o755);
}
