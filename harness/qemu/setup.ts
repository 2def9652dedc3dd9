// `npm run setup:kernels`: what the QEMU targets need on this machine.
// As root, installs QEMU and the arm64 cross compiler from the machine's own
// apt sources; then fetches Debian's cloud kernels, trixie's (stable, 6.12)
// and sid's (current, 7.x) for arm64 and amd64, resolved by package name
// through each suite's current apt metadata (versions move), into the cache
// kernel-cache.ts describes, with each kernel's headers, against which it
// builds kmod/ (the page-table reader behind Proc.descriptors()). Without
// headers or a module a kernel still boots, without raw descriptors: setup
// says so in one line and goes on. A second run only checks the cache.
//
//   npm run setup:kernels [-- --refresh]   (--refresh: look for newer kernels)

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { debianMirror, machineAptSources, machineCodename } from './apt-sources.ts';
import { dependencyNames, SuiteArchive } from './debian-archive.ts';
import { ensurePackages } from '../apt-packages.ts';
import { execTool } from './exec.ts';
import { fetchHeaders, hostDebianArch } from './kernel-headers.ts';
import { buildPgwalk } from './kmod-build.ts';
import {
  cachedKernel,
  cacheRoot,
  complete,
  DEBIAN_ARCH,
  GENERATIONS,
  GUEST_MODULES,
  GUEST_ARCHES,
  kernelDir,
  MANIFEST,
  readManifest,
  SUITE,
  type CachedFile,
  type GuestArch,
  type KernelGeneration,
  type KernelManifest,
} from './kernel-cache.ts';

export { kernelPath } from './kernel-cache.ts';

/** Debian packages the QEMU targets use: the emulators, compilers for static guest programs, and make for kmod/. */
const TOOL_PACKAGES = ['qemu-system-arm', 'qemu-system-x86', 'gcc', 'libc6-dev', 'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'make'];

type Say = (line: string) => void;

async function setupKernels(options: { readonly refresh: boolean }, say: Say): Promise<void> {
  await ensurePackages(TOOL_PACKAGES, say);
  const hostArch = await hostDebianArch();
  for (const generation of GENERATIONS) {
    const suite = SUITE[generation];
    const wanted: GuestArch[] = [];
    for (const arch of GUEST_ARCHES) {
      const manifest = options.refresh ? undefined : await verifiedManifest(kernelDir(arch, generation));
      if (manifest !== undefined) say(`${suite} ${DEBIAN_ARCH[arch]}: ${manifest.release} cached (sha256 checked)`);
      else wanted.push(arch);
    }
    // A kernel fetched now needs its headers too.
    const headersWanted = GUEST_ARCHES.filter((arch) => wanted.includes(arch) || cachedKernel(arch, generation)?.headers === undefined);
    if (wanted.length > 0 || headersWanted.length > 0) await fetchFromSuite(generation, wanted, headersWanted, hostArch, say);
    for (const arch of GUEST_ARCHES) await buildModule(arch, generation, say);
  }
}

/**
 * Fetches the kernels `wanted` and the headers of the kernels `headersWanted`
 * from the suite's current metadata. Kernels that cannot be fetched fail
 * setup; headers that cannot, only the raw descriptors of their kernel.
 */
async function fetchFromSuite(
  generation: KernelGeneration,
  wanted: readonly GuestArch[],
  headersWanted: readonly GuestArch[],
  hostArch: string,
  say: Say,
): Promise<void> {
  const suite = SUITE[generation];
  const mirror = debianMirror(machineAptSources(), machineCodename());
  mkdirSync(cacheRoot(), { recursive: true });
  // The suite's lists and apt's cache of them (about 120 MB) serve this run only.
  const aptRoot = mkdtempSync(join(cacheRoot(), `.apt-${suite}-`));
  try {
    // kbuild (and libc6) come in this machine's architecture: they run here.
    const arches = new Set([...wanted, ...headersWanted].map((a): string => DEBIAN_ARCH[a]));
    if (headersWanted.length > 0) arches.add(hostArch);
    const archive = new SuiteArchive(aptRoot, suite, mirror, [...arches]);
    const t0 = Date.now();
    say(`${suite}: reading package lists from ${mirror.uri} ...`);
    try {
      await archive.update();
    } catch (e) {
      if (wanted.length > 0) throw e;
      for (const arch of headersWanted) noDescriptors(arch, generation, e, say);
      return;
    }
    say(`${suite}: package lists read in ${seconds(t0)}`);
    for (const arch of wanted) await fetchKernel(archive, arch, generation, say);
    for (const arch of headersWanted) {
      const kernel = cachedKernel(arch, generation);
      if (kernel === undefined) continue;
      await fetchHeaders(archive, arch, generation, kernel.release, hostArch, say).catch((e: unknown) => noDescriptors(arch, generation, e, say));
    }
  } finally {
    rmSync(aptRoot, { recursive: true, force: true });
  }
}

/** kmod/ built (or found built) for the cached kernel. */
async function buildModule(arch: GuestArch, generation: KernelGeneration, say: Say): Promise<void> {
  const kernel = cachedKernel(arch, generation);
  if (kernel === undefined || kernel.headers === undefined) return; // fetchHeaders said why
  const t0 = Date.now();
  try {
    const { path, built } = await buildPgwalk(kernel);
    say(`${SUITE[generation]} ${DEBIAN_ARCH[arch]}: kmod/ ${built ? `built in ${seconds(t0)}` : 'cached'}: ${path}`);
  } catch (e) {
    noDescriptors(arch, generation, e, say);
  }
}

/** The one line that says a kernel will run without raw descriptors, and why. */
function noDescriptors(arch: GuestArch, generation: KernelGeneration, e: unknown, say: Say): void {
  say(`${SUITE[generation]} ${DEBIAN_ARCH[arch]}: no raw descriptors on this kernel (it still boots): ${e instanceof Error ? e.message : String(e)}`);
}

/** Resolve the suite's current cloud kernel for `arch`, download, unpack, cache. */
async function fetchKernel(archive: SuiteArchive, arch: GuestArch, generation: KernelGeneration, say: Say): Promise<void> {
  const debArch = DEBIAN_ARCH[arch];
  const label = `${archive.suite} ${debArch}`;
  // The metapackage always points at the suite's current kernel.
  const meta = `linux-image-cloud-${debArch}`;
  const image = dependencyNames((await archive.show(`${meta}:${debArch}`)).get('Depends')).find(
    (n) => n.startsWith('linux-image-') && n.endsWith(`-cloud-${debArch}`) && n !== meta,
  );
  if (image === undefined) throw new Error(`${label}: ${meta} depends on no linux-image-VERSION-cloud-${debArch}`);
  const release = image.slice('linux-image-'.length);
  // trixie's image package holds /boot/vmlinuz-* and the modules; sid's splits the image into
  // linux-binary-*, the config into linux-base-* and the modules into linux-modules-*, all under /usr/lib/modules.
  const parts = dependencyNames((await archive.show(`${image}:${debArch}`)).get('Depends')).filter((n) =>
    ['linux-binary-', 'linux-base-', 'linux-modules-'].some((prefix) => n === `${prefix}${release}`),
  );
  const packages = [];
  for (const name of [image, ...parts]) {
    const s = await archive.show(`${name}:${debArch}`);
    packages.push({ package: name, version: s.get('Version') ?? '', sha256: s.get('SHA256') ?? '', size: Number(s.get('Size') ?? 0) });
  }
  const total = packages.reduce((n, p) => n + p.size, 0);
  const dir = kernelDir(arch, generation);
  mkdirSync(dir, { recursive: true });
  // An interrupted fetch must not leave a manifest that vouches for half the files.
  rmSync(join(dir, MANIFEST), { force: true });
  const work = mkdtempSync(join(dir, '.fetch-'));
  try {
    let t0 = Date.now();
    say(`${label}: downloading ${packages.map((p) => `${p.package} ${p.version}`).join(', ')} (${mib(total)}) ...`);
    await archive.download(packages.map((p) => `${p.package}:${debArch}`), work);
    say(`${label}: downloaded in ${seconds(t0)}`);
    t0 = Date.now();
    const root = join(work, 'root');
    for (const deb of readdirSync(work).filter((f) => f.endsWith('.deb'))) {
      await execTool('dpkg-deb', ['-x', join(work, deb), root]);
    }
    const vmlinuz = moveFirst(root, [`boot/vmlinuz-${release}`, `usr/lib/modules/${release}/vmlinuz`], join(dir, 'vmlinuz'), label);
    const config = moveFirst(root, [`boot/config-${release}`, `usr/lib/modules/${release}/config`], join(dir, 'config'), label);
    const modules: Record<string, CachedFile> = {};
    for (const name of GUEST_MODULES) {
      const at = moduleCandidates(release, name);
      modules[name] = await describe(dir, moveFirst(root, at, join(dir, `${name}.ko.xz`), label));
    }
    const manifest: KernelManifest = {
      suite: archive.suite,
      debianArch: debArch,
      release,
      packages: packages.map(({ package: name, version, sha256 }) => ({ package: name, version, sha256 })),
      vmlinuz: await describe(dir, vmlinuz),
      config: await describe(dir, config),
      modules,
    };
    writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    say(`${label}: ${release} unpacked in ${seconds(t0)}: ${join(dir, 'vmlinuz')} (${mib(manifest.vmlinuz.size)})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Where a Debian kernel package keeps a block-device module: /lib/modules (trixie) or /usr/lib/modules (sid). */
function moduleCandidates(release: string, name: string): string[] {
  return ['lib', 'usr/lib'].map((prefix) => `${prefix}/modules/${release}/kernel/drivers/block/${name}.ko.xz`);
}

/** Move the first of `candidates` (under root) that exists to `to`; returns to's base name. */
function moveFirst(root: string, candidates: readonly string[], to: string, label: string): string {
  const from = candidates.map((c) => join(root, c)).find((p) => existsSync(p));
  if (from === undefined) throw new Error(`${label}: none of ${candidates.join(', ')} in the packages`);
  renameSync(from, to);
  return to.slice(to.lastIndexOf('/') + 1);
}

async function describe(dir: string, path: string): Promise<CachedFile> {
  return { path, sha256: await sha256(join(dir, path)), size: statSync(join(dir, path)).size };
}

/** The manifest, when every file it names is there with its size and hash. */
async function verifiedManifest(dir: string): Promise<KernelManifest | undefined> {
  const m = readManifest(dir);
  if (!complete(m)) return undefined;
  for (const f of [m.vmlinuz, m.config, ...Object.values(m.modules)]) {
    const path = join(dir, f.path);
    if (!existsSync(path) || statSync(path).size !== f.size || (await sha256(path)) !== f.sha256) return undefined;
  }
  return m;
}

function sha256(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

const seconds = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function main(argv: readonly string[]): Promise<number> {
  const say: Say = (line) => process.stderr.write(`setup:kernels: ${line}\n`);
  try {
    const { values } = parseArgs({ args: [...argv], options: { refresh: { type: 'boolean', default: false } }, strict: true });
    const t0 = Date.now();
    await setupKernels({ refresh: values.refresh === true }, say);
    say(`done in ${seconds(t0)}`);
    return 0;
  } catch (e) {
    process.stderr.write(`setup:kernels: error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
