// The module target: a TypeScript or JavaScript file whose default export
// is a Variant of the reference or a TargetFactory (harness/plugin.ts).
// What it makes is checked at load, a process spawned and looked over
// too: what is missing is named on one line, before any suite runs.

import { existsSync } from 'node:fs';
import { oneLineMessage } from '../command.ts';
import { importDefault } from '../import-default.ts';
import { deriveReference, type TargetFactory, type Variant } from '../plugin.ts';
import type { Proc, Target } from '../target.ts';

/** Every call a Proc must have (the optional ones are accelerators): the type keeps the list whole. */
type RequiredKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : K }[keyof T];
const PROC_CALLS: Readonly<Record<Exclude<RequiredKeys<Proc>, 'pid'>, true>> = {
  mmap: true, munmap: true, mprotect: true, mremap: true, madvise: true, open: true, close: true, unlink: true, swapoff: true, swapon: true, ftruncate: true,
  memfdCreate: true, writeFd: true, stat: true, listDir: true, shmget: true, shmat: true, shmdt: true, shmctl: true, fork: true,
  pipe2: true, readFd: true, poll: true, fcntl: true, fallocate: true, movePages: true, threadCreate: true, alignedAlloc: true, free: true, read: true,
  write: true, fill: true, increment: true, readFile: true, writeFile: true, pagemap: true, pagemapScan: true, userfaultfd: true,
  uffdioApi: true, uffdioRegister: true, uffdioWriteprotect: true, uffdioUnregister: true, uffdioCopy: true, uffdioZeropage: true,
  userfaultfdIocNew: true, uffdioContinue: true, uffdioMove: true, uffdioPoison: true, uffdioWake: true, uffdRead: true, exit: true,
};
const TARGET_CALLS = ['info', 'capabilities', 'spawn', 'close'] as const;

const missing = (obj: object, names: readonly string[]): string[] => names.filter((n) => typeof (obj as Record<string, unknown>)[n] !== 'function');

export async function moduleTarget(path: string): Promise<Target> {
  const name = `module:${path}`;
  // the command line names the target before the reason
  const fail = (why: string) => new Error(why);
  if (path === '') throw fail('no file (use module:PATH, a .ts or .js file)');
  if (!existsSync(path)) throw fail(`${path}: no such file`);
  const made = await importDefault(path, 'a Variant of the reference or a function making a Target (harness/plugin.ts)', fail);
  let target: unknown;
  try {
    target = typeof made === 'function' ? await (made as TargetFactory)({ name }) : typeof made === 'object' && made !== null ? await deriveReference(made as Variant, name) : made;
  } catch (e) {
    throw fail(oneLineMessage(e));
  }
  if (typeof target !== 'object' || target === null) throw fail(`its default export made ${target === null ? 'null' : typeof target}, not a Target`);
  const lacking = missing(target, TARGET_CALLS);
  if (lacking.length) throw fail(`its Target lacks ${lacking.map((n) => `${n}()`).join(', ')}`);
  const t = target as Target;
  let proc: Proc;
  try {
    proc = await t.spawn();
  } catch (e) {
    throw fail(`its spawn() failed: ${oneLineMessage(e)}`);
  }
  const lackingCalls = missing(proc, Object.keys(PROC_CALLS));
  await proc.exit?.().catch(() => {});
  if (lackingCalls.length) throw fail(`its Proc lacks ${lackingCalls.map((n) => `${n}()`).join(', ')}`);
  return t;
}
