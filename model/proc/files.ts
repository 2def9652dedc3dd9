// The /proc/self and /sys/kernel/mm files the selftests read and write.

import { Errno, type Ret } from '../../uapi/linux.ts';
import { vmaThpAllowed } from '../mm/fault.ts';
import type { Task } from '../mm/task.ts';
import { clearRefsWrite } from './clear-refs.ts';
import { smapsText } from './smaps.ts';

const THP = '/sys/kernel/mm/transparent_hugepage';
const MODES = ['always', 'madvise', 'never'] as const;

function selfPath(task: Task, path: string): string {
  return path.replace(/^\/proc\/(self|\d+)\//, (_, who: string) => (who === 'self' || Number(who) === task.pid ? '/proc/self/' : '/proc/?/'));
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
    default:
      return new Errno('ENOENT', 'open');
  }
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
    default:
      return new Errno('ENOENT', 'open');
  }
}
