// An initramfs for a guest whose only program is ours: a newc cpio archive
// (the format the kernel's initramfs unpacker reads, Documentation/
// driver-api/early-userspace/buffer-format.rst), written here so a run needs
// no cpio tool.

import { gzipSync } from 'node:zlib';

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly type: 'chardev'; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

/** st_mode file-type bits (include/uapi/linux/stat.h). */
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFCHR = 0o020000;

const NEWC_MAGIC = '070701';
const TRAILER = 'TRAILER!!!';

/** The archive, entries in the order given: a directory must precede what it holds. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    offset += b.length;
  };
  const pad4 = (): void => {
    if (offset % 4 !== 0) push(Buffer.alloc(4 - (offset % 4)));
  };
  const entry = (ino: number, name: string, mode: number, nlink: number, data: Uint8Array, rdev: readonly [number, number]): void => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    push(Buffer.from(NEWC_MAGIC + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii'));
    push(nameBytes);
    pad4();
    push(Buffer.from(data.buffer, data.byteOffset, data.length));
    pad4();
  };
  const empty = new Uint8Array(0);
  entries.forEach((e, i) => {
    const name = archiveName(e.path);
    const perm = e.mode & 0o7777;
    // ino only has to be unique (the unpacker links entries that share one); 0 is the trailer's.
    if (e.type === 'dir') entry(i + 1, name, S_IFDIR | perm, 2, empty, [0, 0]);
    else if (e.type === 'file') entry(i + 1, name, S_IFREG | perm, 1, e.data, [0, 0]);
    else entry(i + 1, name, S_IFCHR | perm, 1, empty, [e.major, e.minor]);
  });
  entry(0, TRAILER, 0, 1, empty, [0, 0]);
  return Buffer.concat(parts);
}

/** "/dev/console" and "dev/console" are the same entry; the archive holds the relative name. */
function archiveName(path: string): string {
  const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (name === '' || name.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new Error(`initramfs: bad path "${path}"`);
  }
  return name;
}

export interface InitramfsFile {
  readonly path: string;
  readonly mode: number;
  readonly data: Uint8Array;
}

export interface InitramfsSpec {
  /** the program the kernel runs as /init */
  readonly init: Uint8Array;
  readonly files?: readonly InitramfsFile[];
  readonly dirs?: readonly string[];
  /** gzip the archive (CONFIG_RD_GZIP); plain is as fast to boot for a small archive */
  readonly gzip?: boolean;
}

/** Mount points every init needs, whatever it mounts on them. */
const STANDARD_DIRS = ['/proc', '/sys', '/dev', '/tmp'];

/**
 * /init, the standard mount points, /dev/console, and the files and
 * directories asked for (parents made as needed). The kernel opens
 * /dev/console for init's stdin, stdout and stderr before devtmpfs could be
 * mounted (and never mounts devtmpfs itself when it runs an initramfs
 * /init, whatever CONFIG_DEVTMPFS_MOUNT says), so the node comes with the
 * archive.
 */
export function buildInitramfs(spec: InitramfsSpec): Buffer {
  const dirs = new Set<string>();
  const entries: CpioEntry[] = [];
  const addDir = (path: string): void => {
    const name = archiveName(path);
    const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : undefined;
    if (parent !== undefined) addDir(parent);
    if (dirs.has(name)) return;
    dirs.add(name);
    entries.push({ type: 'dir', path: name, mode: 0o755 });
  };
  const addParent = (path: string): void => {
    const name = archiveName(path);
    if (name.includes('/')) addDir(name.slice(0, name.lastIndexOf('/')));
  };
  for (const d of [...STANDARD_DIRS, ...(spec.dirs ?? [])]) addDir(d);
  entries.push({ type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  entries.push({ type: 'file', path: 'init', mode: 0o755, data: spec.init });
  for (const f of spec.files ?? []) {
    addParent(f.path);
    entries.push({ type: 'file', path: f.path, mode: f.mode, data: f.data });
  }
  const archive = writeCpio(entries);
  return spec.gzip === true ? gzipSync(archive) : archive;
}
