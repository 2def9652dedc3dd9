// The /proc/self and /sys/kernel/mm files the selftests read and write.

import { Errno, type Ret } from '../../uapi/linux.ts';
import { vmaThpAllowed } from '../mm/fault.ts';
import type { HugetlbPool } from '../mm/hugetlb.ts';
import { SWAP_DEVICE, type SwapDevice } from '../mm/swapfile.ts';
import type { Task } from '../mm/task.ts';
import { clearRefsWrite } from './clear-refs.ts';
import { smapsText } from './smaps.ts';

const THP = '/sys/kernel/mm/transparent_hugepage';
const HUGEPAGES = '/sys/kernel/mm/hugepages/hugepages-2048kB';
/**
 * arm64's hstates with 4 KiB pages (contiguous ptes, pmd, contiguous pmds,
 * pud), in the order readdir() of /sys/kernel/mm/hugepages lists them on
 * Debian's 6.12 and 7.2 (kernfs keeps a directory in name-hash order: measured).
 * Only the 2 MiB pool has pages in the model.
 */
const HSTATE_DIRS = ['hugepages-2048kB', 'hugepages-32768kB', 'hugepages-64kB', 'hugepages-1048576kB'] as const;
const EMPTY_HSTATE = /^\/sys\/kernel\/mm\/hugepages\/(hugepages-(?:64|32768|1048576)kB)\/(nr_hugepages|free_hugepages|resv_hugepages|surplus_hugepages)$/;

// hugetlb_report_meminfo(): the hugetlb lines of /proc/meminfo, the only ones the model has
function meminfo(pool: HugetlbPool): string {
  const n = (v: number, w: number) => String(v).padStart(w);
  return (
    `HugePages_Total:   ${n(pool.total, 5)}\nHugePages_Free:    ${n(pool.free, 5)}\nHugePages_Rsvd:    ${n(pool.resv, 5)}\n` +
    `HugePages_Surp:    ${n(pool.surplus, 5)}\nHugepagesize:   ${n(2048, 8)} kB\nHugetlb:        ${n(pool.total * 2048, 8)} kB\n`
  );
}
const MODES = ['always', 'madvise', 'never'] as const;

function selfPath(task: Task, path: string): string {
  return path.replace(/^\/proc\/(self|\d+)\//, (_, who: string) => (who === 'self' || Number(who) === task.pid ? '/proc/self/' : '/proc/?/'));
}

// swap_show(): the RAM disk the QEMU guests swap to, as their /proc/swaps lists it
function procSwaps(swap: SwapDevice | null): string {
  const head = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
  if (!swap) return head;
  const size = swap.slots * 4n;
  const used = BigInt(swap.inuse) * 4n;
  const tab = (n: bigint) => (n < 10_000_000n ? '\t' : '');
  return `${head}${SWAP_DEVICE.padEnd(40)}partition\t${size}\t${tab(size)}${used}\t${tab(used)}${swap.prio}\n`;
}

export function readProcFile(task: Task, path: string): Ret<string> {
  const sys = task.sys;
  switch (selfPath(task, path)) {
    case '/proc/self/smaps':
      return smapsText(task.mm, (vma) => vmaThpAllowed(task.mm, vma));
    case `${THP}/enabled`:
      return `${MODES.map((m) => (m === sys.thp.enabled ? `[${m}]` : m)).join(' ')}\n`;
    case `${THP}/use_zero_page`:
      return `${sys.thp.useZeroPage ? 1 : 0}\n`;
    case `${THP}/hpage_pmd_size`:
      return '2097152\n';
    case '/proc/swaps':
      return procSwaps(sys.swap);
    case '/proc/meminfo':
      return meminfo(sys.hugetlb);
    case `${HUGEPAGES}/nr_hugepages`:
    case '/proc/sys/vm/nr_hugepages':
      return `${sys.hugetlb.total}\n`;
    case `${HUGEPAGES}/free_hugepages`:
      return `${sys.hugetlb.free}\n`;
    case `${HUGEPAGES}/resv_hugepages`:
      return `${sys.hugetlb.resv}\n`;
    case `${HUGEPAGES}/surplus_hugepages`:
      return `${sys.hugetlb.surplus}\n`;
    // node_read_nodemask(): the nodes online and with memory, as a range list ("0", "0-1")
    case '/sys/devices/system/node/online':
    case '/sys/devices/system/node/has_memory': {
      const nodes = sys.cfg.numaNodes ?? 1;
      return nodes === 1 ? '0\n' : `0-${nodes - 1}\n`;
    }
    case '/sys/devices/system/node/has_cpu':
      return '0\n';
    default: {
      const status = /^\/proc\/(\d+)\/status$/.exec(path);
      if (status) return procStatus(task, Number(status[1]));
      return EMPTY_HSTATE.test(path) ? '0\n' : new Errno('ENOENT', 'open');
    }
  }
}

/** get_task_state()'s letters, with the words /proc prints after them */
const STATE_NAMES = { R: 'R (running)', S: 'S (sleeping)', D: 'D (disk sleep)' } as const;

/**
 * proc_pid_status() of the process or one of its threads: the identity and
 * state lines only (the rest of the file is not modelled). A thread waits
 * in 'S' between calls, as the agent's do.
 */
function procStatus(task: Task, tid: number): Ret<string> {
  const state = tid === task.pid ? 'R' : task.threads.get(tid);
  if (state === undefined) return new Errno('ENOENT', 'open');
  return `Name:\tmmconform-agent\nState:\t${STATE_NAMES[state]}\nTgid:\t${task.pid}\nPid:\t${tid}\n`;
}

/** A directory entry as readdir() gives it */
export interface DirEntry {
  readonly name: string;
  readonly type: 'dir' | 'file' | 'symlink' | 'other';
}

/** The directories of /sys the selftests list (readdir(), without . and ..). */
export function listProcDir(path: string): Ret<readonly DirEntry[]> {
  if (path.replace(/\/+$/, '') === '/sys/kernel/mm/hugepages') return HSTATE_DIRS.map((name) => ({ name, type: 'dir' as const }));
  throw new Error(`listing ${path} is not modelled`);
}

export function writeProcFile(task: Task, path: string, data: string): Ret<number> {
  const sys = task.sys;
  switch (selfPath(task, path)) {
    case '/proc/self/clear_refs':
      return clearRefsWrite(task.mm, data);
    case `${THP}/enabled`: {
      const mode = MODES.find((m) => m === data.trim());
      if (!mode) return new Errno('EINVAL', 'write');
      sys.thp = { ...sys.thp, enabled: mode };
      return data.length;
    }
    case `${THP}/use_zero_page`: {
      const v = data.trim();
      if (v !== '0' && v !== '1') return new Errno('EINVAL', 'write');
      sys.thp = { ...sys.thp, useZeroPage: v === '1' };
      return data.length;
    }
    case `${HUGEPAGES}/nr_hugepages`:
    case '/proc/sys/vm/nr_hugepages': {
      // __nr_hugepages_store_common(): kstrtoul
      const v = data.trim();
      if (!/^\d+$/.test(v)) return new Errno('EINVAL', 'write');
      sys.hugetlb.resize(Number(v));
      return data.length;
    }
    default: {
      const empty = EMPTY_HSTATE.exec(path);
      if (!empty) return new Errno('ENOENT', 'open');
      if (empty[2] !== 'nr_hugepages') return new Errno('EACCES', 'open'); // 0444
      if (!/^\s*0+\s*$/.test(data)) throw new Error(`${empty[1]} pages are not modelled (only the 2 MiB pool has pages)`);
      return data.length;
    }
  }
}
