// Reading an agent's socket directly, without the event loop: a connection
// awaiting a short reply (ConnectionOptions.readNow) spins on this rather
// than sleep until libuv wakes it, which costs a scheduler wakeup, tens of
// microseconds on a virtual CPU (bench/ports.bench.ts measures the calls).

import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** A socket's descriptor: net.Socket keeps it on its handle, which no public API gives. */
function socketFd(socket: Readable): number | null {
  const fd = (socket as Readable & { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * A read of what `socket` has now, for a connection that awaits a reply
 * (ConnectionOptions.readNow): null when nothing is there yet, or when
 * something is already queued in `queued`, whose bytes come first.
 */
export function readNowFrom(socket: Readable, queued: readonly Readable[], scratch: Buffer): Buffer | null {
  const fd = socketFd(socket);
  if (fd === null || queued.some((q) => q.readableLength > 0)) return null;
  try {
    const n = readSync(fd, scratch);
    return n > 0 ? Buffer.from(scratch.subarray(0, n)) : null;
  } catch {
    return null; // EAGAIN: nothing yet
  }
}

