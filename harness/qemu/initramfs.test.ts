import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { buildInitramfs, S_IFCHR, S_IFDIR, S_IFREG, writeCpio } from './initramfs.ts';

interface ParsedEntry {
  readonly offset: number;
  readonly name: string;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly rdev: readonly [number, number];
  readonly data: Buffer;
}

/** A strict reader of the newc format, as the kernel's init/initramfs.c reads it. */
function parseNewc(archive: Buffer): ParsedEntry[] {
  const entries: ParsedEntry[] = [];
  let at = 0;
  for (;;) {
    expect(at % 4, 'every header starts 4-aligned').toBe(0);
    const header = archive.subarray(at, at + 110).toString('ascii');
    expect(header.slice(0, 6)).toBe('070701');
    const field = (i: number): number => {
      const hex = header.slice(6 + 8 * i, 14 + 8 * i);
      expect(hex).toMatch(/^[0-9a-f]{8}$/);
      return parseInt(hex, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rmajor, rminor, namesize, check] = Array.from({ length: 13 }, (_, i) => field(i)) as [
      number, number, number, number, number, number, number, number, number, number, number, number, number,
    ];
    expect([uid, gid, devmajor, devminor, check]).toEqual([0, 0, 0, 0, 0]);
    const nameEnd = at + 110 + namesize;
    expect(archive[nameEnd - 1], 'names end in NUL').toBe(0);
    const name = archive.subarray(at + 110, nameEnd - 1).toString('utf8');
    const dataStart = align4(nameEnd);
    expect(archive.subarray(nameEnd, dataStart).every((b) => b === 0), 'name padding is zeros').toBe(true);
    const data = archive.subarray(dataStart, dataStart + filesize);
    const next = align4(dataStart + filesize);
    expect(archive.subarray(dataStart + filesize, next).every((b) => b === 0), 'data padding is zeros').toBe(true);
    entries.push({ offset: at, name, ino, mode, nlink, mtime, rdev: [rmajor, rminor], data });
    at = next;
    if (name === 'TRAILER!!!') break;
  }
  expect(at, 'nothing after the trailer').toBe(archive.length);
  return entries;
}

const align4 = (n: number): number => (n + 3) & ~3;

describe('writeCpio', () => {
  test('writes newc headers, names and data, each padded to 4 bytes, then the trailer', () => {
    // Name lengths 1..4 and data lengths 0..5 cover every padding case.
    const entries = [
      { type: 'dir', path: 'a', mode: 0o755 },
      { type: 'file', path: 'a/bc', mode: 0o644, data: Buffer.from('') },
      { type: 'file', path: 'a/b', mode: 0o600, data: Buffer.from('x') },
      { type: 'file', path: 'a/bcd', mode: 0o755, data: Buffer.from('hello') },
      { type: 'chardev', path: 'a/tty', mode: 0o620, major: 4, minor: 64 },
    ] as const;
    const parsed = parseNewc(writeCpio(entries));
    expect(parsed.map((e) => e.name)).toEqual(['a', 'a/bc', 'a/b', 'a/bcd', 'a/tty', 'TRAILER!!!']);
    expect(parsed.map((e) => e.mode)).toEqual([S_IFDIR | 0o755, S_IFREG | 0o644, S_IFREG | 0o600, S_IFREG | 0o755, S_IFCHR | 0o620, 0]);
    expect(parsed.map((e) => e.nlink)).toEqual([2, 1, 1, 1, 1, 1]);
    expect(parsed.map((e) => e.data.toString())).toEqual(['', '', 'x', 'hello', '', '']);
    expect(parsed[4]!.rdev).toEqual([4, 64]);
    // Distinct inode numbers: the unpacker hard-links entries that share one.
    expect(new Set(parsed.slice(0, -1).map((e) => e.ino)).size).toBe(5);
    expect(parsed.every((e) => e.mtime === 0)).toBe(true);
  });

  test('keeps binary contents byte for byte', () => {
    const data = Uint8Array.from({ length: 1027 }, (_, i) => (i * 37) & 0xff);
    const [file] = parseNewc(writeCpio([{ type: 'file', path: 'init', mode: 0o755, data }]));
    expect(Buffer.compare(file!.data, Buffer.from(data))).toBe(0);
  });

  test('stores paths relative to the root and refuses ones that climb out', () => {
    const [file] = parseNewc(writeCpio([{ type: 'dir', path: '/proc/', mode: 0o755 }]));
    expect(file!.name).toBe('proc');
    expect(() => writeCpio([{ type: 'dir', path: 'a/../b', mode: 0o755 }])).toThrow(/bad path "a\/..\/b"/);
    expect(() => writeCpio([{ type: 'dir', path: '/', mode: 0o755 }])).toThrow(/bad path/);
  });
});

describe('buildInitramfs', () => {
  const init = Buffer.from('\x7fELF pretend');

  test('holds /init, the standard mount points and a /dev/console node (5,1)', () => {
    const parsed = parseNewc(buildInitramfs({ init }));
    const byName = new Map(parsed.map((e) => [e.name, e]));
    for (const dir of ['proc', 'sys', 'dev', 'tmp']) expect(byName.get(dir)?.mode).toBe(S_IFDIR | 0o755);
    expect(byName.get('dev/console')).toMatchObject({ mode: S_IFCHR | 0o600, rdev: [5, 1] });
    expect(byName.get('init')?.mode).toBe(S_IFREG | 0o755);
    expect(byName.get('init')?.data.toString()).toBe(init.toString());
  });

  test('adds files and directories with their parents, each parent once and before its children', () => {
    const parsed = parseNewc(
      buildInitramfs({
        init,
        dirs: ['/var/tmp', '/dev/shm'],
        files: [
          { path: '/lib/modules/brd.ko', mode: 0o644, data: Buffer.from('ko') },
          { path: '/lib/x', mode: 0o600, data: Buffer.from('x') },
        ],
      }),
    );
    const names = parsed.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const [i, name] of names.entries()) {
      if (!name.includes('/') || name === 'TRAILER!!!') continue;
      expect(names.indexOf(name.slice(0, name.lastIndexOf('/'))), `parent of ${name} comes first`).toBeLessThan(i);
    }
    expect(names).toEqual(expect.arrayContaining(['var', 'var/tmp', 'dev/shm', 'lib', 'lib/modules', 'lib/modules/brd.ko', 'lib/x']));
    expect(parsed.find((e) => e.name === 'lib/x')?.mode).toBe(S_IFREG | 0o600);
  });

  test('gzip gives the same archive, compressed', () => {
    const plain = buildInitramfs({ init });
    const gz = buildInitramfs({ init, gzip: true });
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(Buffer.compare(gunzipSync(gz), plain)).toBe(0);
  });
});
