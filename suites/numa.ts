// NUMA as migration.c's fixture finds it through libnuma: the nodes with
// memory (numa_all_nodes_ptr), read from sysfs, which a kernel without
// CONFIG_NUMA does not have; and move_pages(2) of pages to one of them.

import type { Selftest } from '../harness/suite.ts';
import { MPOL_MF_MOVE, isErr } from '../uapi/linux.ts';

/** migration.c's skip where there is nowhere to move a page to */
export const NOT_ENOUGH_NODES = 'Not enough NUMA nodes available';

/** sysfs's node list with memory (node_read_nodemask()) */
export const HAS_MEMORY = '/sys/devices/system/node/has_memory';

/** The nodes of a range list such as "0-1,3". */
export function parseNodeList(list: string): number[] {
  return list
    .trim()
    .split(',')
    .filter((r) => r !== '')
    .flatMap((r) => {
      const [lo = 0, hi = lo] = r.split('-').map(Number);
      return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    });
}

/** The nodes with memory; none where the file is absent. */
export async function memoryNodes(t: Selftest): Promise<number[]> {
  const list = await t.proc.readFile(HAS_MEMORY);
  return isErr(list) ? [] : parseNodeList(list);
}

/** A node with memory other than the one addr's page is on; null where there is none (or no page there). */
export async function otherNode(t: Selftest, addr: bigint): Promise<number | null> {
  const nodes = await memoryNodes(t);
  if (nodes.length < 2) return null;
  const where = await t.proc.movePages([addr], null, 0);
  const on = isErr(where) ? -1 : where.status[0]!;
  return on < 0 ? null : nodes.find((n) => n !== on)!;
}

/** move_pages(2) of addrs to node with MPOL_MF_MOVE: true when every page is there after (the status of each the node). */
export async function movePagesTo(t: Selftest, addrs: readonly bigint[], node: number): Promise<boolean> {
  const moved = await t.proc.movePages(addrs, addrs.map(() => node), MPOL_MF_MOVE);
  if (isErr(moved)) {
    t.ksft.printMsg(`move_pages failed: ${moved}`);
    return false;
  }
  const ok = moved.ret === 0 && moved.status.every((s) => s === node);
  if (!ok) t.ksft.printMsg(`move_pages to node ${node}: ${moved.ret} not moved, status ${moved.status.join(', ')}`);
  return ok;
}
