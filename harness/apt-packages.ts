// Debian packages a setup script needs (QEMU and compilers, Chromium),
// installed from the machine's own apt sources when missing: root only,
// apt-get update once, then install. Each step reported through `say`.

import { execTool } from './qemu/exec.ts';

const seconds = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

export async function ensurePackages(packages: readonly string[], say: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const pkg of packages) {
    const status = await execTool('dpkg-query', ['-W', '-f=${Status}', pkg]).catch(() => '');
    if (status !== 'install ok installed') missing.push(pkg);
  }
  if (missing.length === 0) {
    say(`packages: ${packages.join(' ')} installed`);
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`missing packages ${missing.join(' ')}: run as root, or apt-get install --no-install-recommends ${missing.join(' ')}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt run on the machine holds the lock for a while: wait for it rather than fail.
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  let t0 = Date.now();
  say('packages: apt-get update ...');
  await execTool('apt-get', [...lock, '-q', 'update'], { env });
  say(`packages: updated in ${seconds(t0)}; installing ${missing.join(' ')} ...`);
  t0 = Date.now();
  await execTool('apt-get', [...lock, '-q', 'install', '-y', '--no-install-recommends', ...missing], { env });
  say(`packages: installed in ${seconds(t0)}`);
}
