// Names for what two targets choose differently though they behave alike:
// addresses (the kernel randomises mmap_base, the model does not), file
// descriptors (the agent holds files of its own open), page frame numbers
// and swap slots. A call log written with these names reads the same on
// every target that does the same thing.

const PAGE = 4096n;
const hex = (n: bigint) => `0x${n.toString(16)}`;

/** A range the names are given relative to: "S1" for a fixed slot, "M0" for the first area a target chose. */
interface Base {
  readonly name: string;
  readonly start: bigint;
  readonly end: bigint;
  /** offsets in it named for what they are, not their value (the program's size) */
  readonly offsets?: Map<bigint, string>;
}

export class CallNames {
  private readonly fixed: readonly Base[];
  private readonly chosen: Base[] = [];
  private readonly fds = new Map<number, string>();
  private fdsOpened = 0;
  private readonly shmids = new Map<number, string>();
  private threads = 0;

  /** `slots`: fixed ranges the caller placed itself (the fuzzer's arena), named S0, S1, ... */
  constructor(slots: readonly (readonly [bigint, bigint])[] = []) {
    this.fixed = slots.map(([start, end], i) => ({ name: `S${i}`, start, end }));
  }

  private find(addr: bigint): Base | undefined {
    const inside = (b: Base) => addr >= b.start && addr < b.end;
    // the newest area first: an address reused after an munmap belongs to the area that took it last
    return this.fixed.find(inside) ?? [...this.chosen].reverse().find(inside);
  }

  /**
   * An address the target returned for an area of `len` bytes: in a slot, named
   * after it; else, when `fresh` (a new area, or one moved), a new name, since
   * where a target puts a new area among its own is its choice; else after the
   * area it lies in (mremap in place).
   */
  chose(addr: bigint, len: bigint, fresh: boolean): string {
    const slot = this.fixed.some((b) => addr >= b.start && addr < b.end);
    // an area is whole pages, whatever length it was asked for with
    const pages = len > 0n ? (len + PAGE - 1n) & ~(PAGE - 1n) : PAGE;
    if (!slot && (fresh || !this.find(addr))) this.chosen.push({ name: `M${this.chosen.length}`, start: addr, end: addr + pages });
    return this.addr(addr);
  }

  /** An address as a known base plus an offset; one outside every known area prints as "?" and its page offset. */
  addr(addr: bigint): string {
    if (addr === 0n) return '0';
    const b = this.find(addr);
    return b ? this.offset(b, addr) : `?+${hex(addr & (PAGE - 1n))}`;
  }

  /** The end of a range: named after the area its last byte lies in. */
  end(addr: bigint): string {
    const b = addr > 0n ? this.find(addr - 1n) : undefined;
    return b ? this.offset(b, addr) : this.addr(addr);
  }

  private offset(b: Base, addr: bigint): string {
    return `${b.name}+${b.offsets?.get(addr - b.start) ?? hex(addr - b.start)}`;
  }

  /** Names an offset in the area that starts at `start` (the file size of a mapping of the program). */
  nameOffset(start: bigint, offset: bigint, label: string): void {
    const b = this.find(start);
    if (!b) return;
    const i = this.chosen.indexOf(b);
    const named = { ...b, offsets: new Map(b.offsets).set(offset, label) };
    if (i >= 0) this.chosen[i] = named;
  }

  /** Whether an address lies in an area the log knows (smaps lines of other areas are the target's own). */
  known(addr: bigint): boolean {
    return this.find(addr) !== undefined;
  }

  /** A descriptor a call returned: named by the order the log first saw it (fd0, fd1, ...). */
  openedFd(fd: number): string {
    const name = `fd${this.fdsOpened++}`;
    this.fds.set(fd, name);
    return name;
  }

  fd(fd: number): string {
    return this.fds.get(fd) ?? (fd < 0 ? String(fd) : 'fd?');
  }

  /** A System V segment id shmget() returned (ids are system-wide, their numbers the kernel's history): shm0, shm1, ... */
  shmid(id: number): string {
    let name = this.shmids.get(id);
    if (!name) {
      name = `shm${this.shmids.size}`;
      this.shmids.set(id, name);
    }
    return name;
  }

  /** A thread the process created: th0, th1, ... */
  thread(): string {
    return `th${this.threads++}`;
  }

  closedFd(fd: number): void {
    // the number may be handed out again; its name stays taken
    this.fds.delete(fd);
  }
}
