// Follow a file another process appends to: its new bytes, in order, none lost.
//
// QEMU's console goes to a file, not to the stdout pipe we used to read: its
// 16550 UART writes a byte per write(2) to a non-blocking fd and drops a byte
// that is refused a few times. Through the socket Node gives a child for
// stdout, that cut holes in the kernel log even with the reader keeping up
// (measured: 2 of 4 x86_64 boots with initcall_debug lost bytes; a CI run
// failed on "mnform.thp" for "mmconform.thp"). A file write is never refused.

import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface FileTail {
  /** read what has been appended since the last read, now, handing it to onText */
  drain(): void;
  /** a last drain, then no more reads */
  stop(): void;
}

/** Follow `path` (which must exist) from its start, polling every `intervalMs` and on drain(). */
export function tailFile(path: string, onText: (text: string) => void, intervalMs = 50): FileTail {
  const fd = openSync(path, 'r');
  const decoder = new StringDecoder('utf8');
  const chunk = Buffer.alloc(64 * 1024);
  let offset = 0;
  let stopped = false;
  const drain = (): void => {
    if (stopped) return;
    let n: number;
    while ((n = readSync(fd, chunk, 0, chunk.length, offset)) > 0) {
      offset += n;
      const text = decoder.write(chunk.subarray(0, n));
      if (text !== '') onText(text);
    }
  };
  const timer = setInterval(drain, intervalMs);
  timer.unref();
  return {
    drain,
    stop: () => {
      drain();
      stopped = true;
      clearInterval(timer);
      closeSync(fd);
    },
  };
}
