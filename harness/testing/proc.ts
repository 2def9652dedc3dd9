// For tests that drive a process through the Target API and read back what
// /proc says of its areas: a memfd to map, and smaps parsed.

import { isErr } from '../../uapi/linux.ts';
import type { Proc } from '../target.ts';

const PAGE = 4096n;

/** memfd_create() and ftruncate() to `pages` pages; a failure throws. */
export async function memfdOf(p: Proc, pages: bigint): Promise<number> {
  const fd = await p.memfdCreate('m', 0);
  if (isErr(fd) || isErr(await p.ftruncate(fd, pages * PAGE))) throw new Error('memfd');
  return fd;
}

/** The smaps lines of the area holding addr, its header line first. */
async function smapsBlock(p: Proc, addr: bigint): Promise<string[]> {
  const text = await p.readFile('/proc/self/smaps');
  if (isErr(text)) throw new Error(String(text));
  for (const block of text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(block);
    if (m && BigInt(`0x${m[1]}`) <= addr && addr < BigInt(`0x${m[2]}`)) return block.split('\n').filter(Boolean);
  }
  throw new Error(`no area at ${addr.toString(16)}`);
}

/** The area's fields by name (kB values as numbers' text, VmFlags as printed), and its range. */
export async function smapsOf(p: Proc, addr: bigint): Promise<Record<string, string>> {
  const [head = '', ...lines] = await smapsBlock(p, addr);
  const out: Record<string, string> = { range: head.split(' ')[0]! };
  for (const line of lines) {
    const kv = /^(\w+):\s*(.*?)\s*(kB)?$/.exec(line);
    if (kv) out[kv[1]!] = kv[2]!;
  }
  return out;
}

/** The named fields of the area as "Name: value kB" lines, white space folded. */
export async function smapsFields(p: Proc, addr: bigint, names: readonly string[]): Promise<string[]> {
  const [, ...lines] = await smapsBlock(p, addr);
  return lines.filter((l) => names.includes(l.split(':')[0]!)).map((l) => l.replace(/\s+/g, ' ').trim());
}
