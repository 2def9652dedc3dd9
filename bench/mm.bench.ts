// The mm model's bulk paths: clear_refs and a pagemap read over 1 GiB with
// every page populated, against a plain read of the same page-table entries
// (the floor), with ptes and with PMD-mapped THPs; and what a huge, barely
// touched mapping costs in memory.

import { builtinLayout } from '../model/arm64/layout.ts';
import { kernelByName } from '../model/kernel.ts';
import { clearRefsWrite } from '../model/proc/clear-refs.ts';
import { pagemapRead } from '../model/proc/pagemap.ts';
import { doMadvise } from '../model/mm/madvise.ts';
import { doMmap } from '../model/mm/mmap.ts';
import { System, type ThpSettings } from '../model/mm/system.ts';
import { Task } from '../model/mm/task.ts';
import { writeUser } from '../model/mm/user-access.ts';
import * as U from '../uapi/linux.ts';
import { isErr } from '../uapi/linux.ts';
import { compare, measureMemory, type BenchResult } from './run.ts';

export const name = 'mm';

const GIB = 1n << 30n;
const PAGES = Number(GIB >> 12n);

function newTask(thp: ThpSettings['enabled']): Task {
  return new Task(
    new System({
      layout: builtinLayout('rfc'),
      kernel: kernelByName('7.2'),
      hw: { hwAF: true, hwDBM: true },
      epan: true,
      thp: { enabled: thp, useZeroPage: true },
      showPfn: true,
      swapBytes: 64n << 20n,
      hugetlbPages: 0,
    }),
  );
}

function populated(thp: ThpSettings['enabled']): { task: Task; addr: bigint } {
  const task = newTask(thp);
  const addr = doMmap(task.mm, 0n, GIB, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, null, 0n);
  if (isErr(addr)) throw new Error(`mmap: ${addr}`);
  const r = doMadvise(task.mm, addr, GIB, U.MADV_POPULATE_WRITE);
  if (isErr(r)) throw new Error(`populate: ${r}`);
  return { task, addr };
}

export function run(): BenchResult[] {
  const results: BenchResult[] = [];
  for (const thp of ['never', 'always'] as const) {
    const { task, addr } = populated(thp);
    const mm = task.mm;
    const group = `1 GiB, ${PAGES} pages populated (${thp === 'never' ? 'ptes' : 'THP pmds'})`;
    let sink = 0n;
    results.push(
      ...compare(name, group, 'page', PAGES, [
        {
          name: 'read every leaf entry (floor)',
          run: () => mm.pt.forEachPage(addr, addr + GIB, (_, val) => void (sink ^= val)),
        },
        { name: 'clear_refs 4', run: () => void clearRefsWrite(mm, '4') },
        { name: 'pagemap read', run: () => void (sink ^= pagemapRead(mm, addr, PAGES)[0]!) },
        {
          name: 'clear_refs 4 + pagemap read',
          run: () => {
            clearRefsWrite(mm, '4');
            sink ^= pagemapRead(mm, addr, PAGES)[0]!;
          },
        },
      ]),
    );
    if (sink === -1n) throw new Error('unreachable');
  }
  // A huge mapping costs what is touched: a few tables and ten pages.
  const sparse = () => {
    const t = newTask('never');
    const big = doMmap(t.mm, 0n, 64n << 40n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, null, 0n);
    if (isErr(big)) throw new Error(`mmap: ${big}`);
    for (let i = 0n; i < 10n; i++) writeUser(t.mm, big + i * (1n << 32n), new Uint8Array([1]));
    return t;
  };
  const { memory } = measureMemory(sparse);
  results.push(...compare(name, '64 TiB mapping, 10 pages written', 'mapping', 1, [{ name: 'mmap + 10 writes', run: () => void sparse(), memory }]));
  return results;
}
