// tools/testing/selftests/mm/hugepage_settings.c: the parts the ports use.
// thp_is_enabled() for soft-dirty.c, with its failure paths (they print
// with plain printf/perror and exit(EXIT_FAILURE), without kselftest's
// counts); the HugeTLB settings for pagemap_ioctl.c.

import { isErr } from '../uapi/linux.ts';
import type { Ksft } from './ksft.ts';
import { strerror } from './strerror.ts';
import type { Selftest } from './suite.ts';
import { readNum, writeNumIgnoreEinval } from './vm-util.ts';

const THP_SYSFS = '/sys/kernel/mm/transparent_hugepage/';
const EXIT_FAILURE = 1;

const thpEnabledStrings = ['never', 'always', 'inherit', 'madvise'] as const;

/** The index in `strings` of the bracketed word in THP_SYSFS/name ("always [madvise] never"). */
async function thpReadString(t: Selftest, name: string, strings: readonly string[]): Promise<number> {
  const path = `${THP_SYSFS}${name}`;

  const buf = await t.proc.readFile(path);
  if (isErr(buf)) {
    t.ksft.printf(`${path}: ${strerror(buf)}\n`); // perror(): stderr, merged into the output by the runner
    t.ksft.exit(EXIT_FAILURE);
  }

  const open = buf.indexOf('[');
  if (open < 0) {
    t.ksft.printf('thp_read_string: Parse failure\n');
    t.ksft.exit(EXIT_FAILURE);
  }

  const close = buf.indexOf(']', open + 1);
  if (close < 0) {
    t.ksft.printf('thp_read_string: Parse failure\n');
    t.ksft.exit(EXIT_FAILURE);
  }

  const ret = strings.indexOf(buf.slice(open + 1, close));
  if (ret >= 0) return ret;

  t.ksft.printf(`Failed to parse ${name}\n`);
  t.ksft.exit(EXIT_FAILURE);
}

/** access(THP_SYSFS, F_OK): the Proc API has no access(); the directory is there when its files are. */
async function thpAvailable(t: Selftest): Promise<boolean> {
  const enabled = await t.proc.readFile(`${THP_SYSFS}enabled`);
  return !(isErr(enabled) && enabled.name === 'ENOENT');
}

export async function thpIsEnabled(t: Selftest): Promise<boolean> {
  if (!(await thpAvailable(t))) return false;

  const mode = await thpReadString(t, 'enabled', thpEnabledStrings);

  /* THP is considered enabled if it's either "always" or "madvise" */
  return mode === 1 || mode === 3;
}

// The HugeTLB half: hugetlb_setup_default() and the settings it saves and
// restores at exit, as soft-dirty's neighbours in hugepage_settings.c do it.

const HUGETLB_MAX_NR_PAGESIZES = 10;

/** struct hugetlb_settings and hugetlb_settings_saved: the C's statics, one set per program. */
interface HugetlbSettings {
  nrHugepages: bigint[];
  sizes: bigint[];
  defaultSize: bigint;
  nrSizes: number;
  saved: boolean;
}

const hugetlbSavedSettings = new WeakMap<Ksft, HugetlbSettings>();

function settingsOf(t: Selftest): HugetlbSettings {
  let s = hugetlbSavedSettings.get(t.ksft);
  if (!s) {
    s = { nrHugepages: [], sizes: [], defaultSize: 0n, nrSizes: 0, saved: false };
    hugetlbSavedSettings.set(t.ksft, s);
  }
  return s;
}

export async function detectHugetlbPageSizes(t: Selftest, max: number): Promise<bigint[]> {
  const settings = settingsOf(t);
  if (settings.nrSizes) return settings.sizes.slice(0, Math.min(max, settings.nrSizes));

  const dir = await t.proc.listDir('/sys/kernel/mm/hugepages/');
  if (isErr(dir)) return [];

  const sizes: bigint[] = [];
  for (const entry of dir) {
    if (sizes.length >= max) break;
    if (entry.type !== 'dir') continue;
    // sscanf(d_name, "hugepages-%zukB", &kb) == 1
    const kb = /^hugepages-\+?(\d+)/.exec(entry.name)?.[1];
    if (kb === undefined) continue;
    sizes.push(BigInt(kb) * 1024n);
    t.ksft.printMsg(`[INFO] detected hugetlb page size: ${kb} KiB`);
  }
  return sizes;
}

export async function defaultHugePageSize(t: Selftest): Promise<bigint> {
  const settings = settingsOf(t);
  if (settings.defaultSize) return settings.defaultSize;

  const meminfo = await t.proc.readFile('/proc/meminfo');
  if (isErr(meminfo)) return 0n;
  // sscanf(line, "Hugepagesize:       %lu kB", &hps): the spaces match any run of blanks
  const kb = /^Hugepagesize:\s*(\d+) kB/m.exec(meminfo)?.[1];
  return kb === undefined ? 0n : BigInt(kb) << 10n;
}

function hugetlbSysfsPath(size: bigint, attr: string): string {
  return `/sys/kernel/mm/hugepages/hugepages-${size / 1024n}kB/${attr}`;
}

export function hugetlbNrPages(t: Selftest, size: bigint): Promise<bigint> {
  return readNum(t, hugetlbSysfsPath(size, 'nr_hugepages'));
}

export function hugetlbSetNrPages(t: Selftest, size: bigint, nr: bigint): Promise<void> {
  return writeNumIgnoreEinval(t, hugetlbSysfsPath(size, 'nr_hugepages'), nr);
}

export function hugetlbFreePages(t: Selftest, size: bigint): Promise<bigint> {
  return readNum(t, hugetlbSysfsPath(size, 'free_hugepages'));
}

async function __hugetlbSetup(t: Selftest, size: bigint, nr: bigint): Promise<boolean> {
  const free = await hugetlbFreePages(t, size);
  const total = await hugetlbNrPages(t, size);

  if (free >= nr) return true;

  await hugetlbSetNrPages(t, size, total + (nr - free));

  return (await hugetlbFreePages(t, size)) >= nr;
}

export async function hugetlbSetupDefault(t: Selftest, nr: bigint): Promise<boolean> {
  await hugetlbSaveSettings(t);
  const size = await defaultHugePageSize(t);
  if (!size) return false;

  return __hugetlbSetup(t, size, nr);
}

async function __hugetlbSaveSettings(t: Selftest): Promise<void> {
  const settings = settingsOf(t);

  if (settings.saved) return;

  settings.defaultSize = await defaultHugePageSize(t);
  if (!settings.defaultSize) return;

  settings.sizes = await detectHugetlbPageSizes(t, HUGETLB_MAX_NR_PAGESIZES);
  if (!settings.sizes.length) {
    settings.defaultSize = 0n;
    return;
  }

  for (const sz of settings.sizes) settings.nrHugepages.push(await hugetlbNrPages(t, sz));

  settings.nrSizes = settings.sizes.length;
  settings.saved = true;
}

export async function hugetlbRestoreSettings(t: Selftest): Promise<void> {
  const settings = settingsOf(t);

  if (!settings.saved || !settings.defaultSize) return;

  for (const [i, sz] of settings.sizes.entries()) await hugetlbSetNrPages(t, sz, settings.nrHugepages[i] ?? 0n);
}

/**
 * hugepage_save_settings(false, true): the restore runs at exit (the C also
 * restores on SIGTERM, SIGINT, SIGHUP and SIGQUIT through exit(); a port
 * is only ever stopped by its runner, which ends the target's process).
 */
export async function hugetlbSaveSettings(t: Selftest): Promise<void> {
  await __hugetlbSaveSettings(t);
  t.ksft.atexit(async () => {
    if (settingsOf(t).saved) await hugetlbRestoreSettings(t);
  });
}

/** hugepage_settings.h's hugetlb_set_nr_default_pages(): nothing without a default size */
export async function hugetlbSetNrDefaultPages(t: Selftest, nr: bigint): Promise<void> {
  const size = await defaultHugePageSize(t);

  if (!size) return;

  await hugetlbSetNrPages(t, size, nr);
}

/** hugepage_settings.h's hugetlb_free_default_pages() */
export async function hugetlbFreeDefaultPages(t: Selftest): Promise<bigint> {
  const size = await defaultHugePageSize(t);

  if (!size) return 0n;

  return hugetlbFreePages(t, size);
}
