#!/usr/bin/env python3
"""A small model of Linux anonymous memory with soft-dirty, in Python,
speaking mmconform's agent protocol (harness/agent/protocol.schema.json)
on stdin and stdout: one JSON request a line in, one reply a line out.

    npx mmconform run --target exec:'python3 examples/py-model/model.py' --suite madv_populate

It models what madv_populate.c observes, as the kernel does it: anonymous
mmap (private and shared), munmap, mprotect, MADV_POPULATE_(READ|WRITE)
(mm/madvise.c's madvise_populate() over mm/gup.c), loads and stores with
their faults, /proc/self/pagemap (present, exclusive, file, soft-dirty),
/proc/self/smaps' VmFlags and clear_refs "4". Areas are born VM_SOFTDIRTY;
clear_refs clears that flag and every pte's soft-dirty bit; a write fault
sets it again. What it does not model it does not list in its hello, so the
harness never asks (and its capability probe reads those features absent).
"""

import json
import re
import sys

PAGE = 4096
TASK_SIZE = 1 << 47
MMAP_BASE = 0x7F00_0000_0000

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_POPULATE = 0x01, 0x02, 0x10, 0x20, 0x8000
MAP_HUGETLB, MAP_FIXED_NOREPLACE = 0x40000, 0x100000
MADV_DONTNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE = 4, 22, 23

PM_PRESENT, PM_FILE, PM_MMAP_EXCLUSIVE, PM_SOFT_DIRTY = 1 << 63, 1 << 61, 1 << 56, 1 << 55
ZERO_PFN = 0x1000


class Errno(Exception):
    def __init__(self, name, call):
        super().__init__(name)
        self.name, self.call = name, call


class Signal(Exception):
    def __init__(self, addr):
        super().__init__("SIGSEGV")
        self.addr = addr


class Page:
    """A pte and the page behind it: the shared zero page (read fault of private memory) or a page of its own."""

    def __init__(self, pfn, zero, soft_dirty, shared_with=None):
        self.pfn, self.zero, self.soft_dirty = pfn, zero, soft_dirty
        self.data = shared_with if shared_with is not None else (None if zero else bytearray(PAGE))


class Vma:
    def __init__(self, start, end, prot, shared):
        self.start, self.end, self.prot, self.shared = start, end, prot, shared
        self.soft_dirty_flag = True  # VM_SOFTDIRTY: a new area is all soft-dirty
        # shared anonymous memory is a shmem file: its pages outlive the ptes that map them
        self.shmem = {} if shared else None
        self.shmem_base = start

    def split(self, at):
        right = Vma(at, self.end, self.prot, self.shared)
        right.soft_dirty_flag, right.shmem, right.shmem_base = self.soft_dirty_flag, self.shmem, self.shmem_base
        self.end = at
        return right


class Process:
    next_pfn = 0x10000

    def __init__(self):
        self.vmas = []  # sorted, not overlapping
        self.ptes = {}  # page address -> Page

    def vma_at(self, addr):
        return next((v for v in self.vmas if v.start <= addr < v.end), None)

    def alloc_pfn(self):
        Process.next_pfn += 1
        return Process.next_pfn

    # --- mmap, munmap, mprotect -------------------------------------------
    def get_unmapped_area(self, length):
        top = MMAP_BASE
        for v in sorted(self.vmas, key=lambda v: -v.start):
            if v.end <= top - length:
                break
            top = min(top, v.start)
        return top - length

    def mmap(self, addr, length, prot, flags, offset):
        if length == 0 or flags & (MAP_SHARED | MAP_PRIVATE) == 0:
            raise Errno("EINVAL", "mmap")
        if not flags & MAP_ANONYMOUS:
            raise Errno("ENODEV", "mmap")  # no files in this model
        if flags & MAP_HUGETLB:
            raise Errno("ENOMEM", "mmap")  # as a kernel with no huge pages reserved
        length = (length + PAGE - 1) & ~(PAGE - 1)
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if addr % PAGE or addr + length > TASK_SIZE:
                raise Errno("EINVAL", "mmap")
            if flags & MAP_FIXED_NOREPLACE and any(v.start < addr + length and addr < v.end for v in self.vmas):
                raise Errno("EEXIST", "mmap")
            self.munmap(addr, length)
        else:
            addr = self.get_unmapped_area(length)
        self.vmas.append(Vma(addr, addr + length, prot, bool(flags & MAP_SHARED)))
        self.vmas.sort(key=lambda v: v.start)
        if flags & MAP_POPULATE:
            # populate_vma_page_range(): write faults on a private writable area, read faults otherwise
            self.populate(addr, addr + length, bool(prot & PROT_WRITE and not flags & MAP_SHARED), ignore_errors=True)
        return addr

    def split_at(self, addr):
        v = self.vma_at(addr)
        if v and v.start < addr:
            self.vmas.append(v.split(addr))
            self.vmas.sort(key=lambda v: v.start)

    def munmap(self, addr, length):
        if addr % PAGE or length == 0 or addr + length > TASK_SIZE:
            raise Errno("EINVAL", "munmap")
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        self.split_at(addr)
        self.split_at(end)
        self.vmas = [v for v in self.vmas if not (addr <= v.start and v.end <= end)]
        for page in [a for a in self.ptes if addr <= a < end]:
            del self.ptes[page]

    def mprotect(self, addr, length, prot):
        if addr % PAGE:
            raise Errno("EINVAL", "mprotect")
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        a = addr
        while a < end:  # the whole range must be mapped
            v = self.vma_at(a)
            if v is None:
                raise Errno("ENOMEM", "mprotect")
            a = v.end
        self.split_at(addr)
        self.split_at(end)
        for v in self.vmas:
            if addr <= v.start and v.end <= end:
                v.prot = prot

    # --- faults and populate ------------------------------------------------
    def fault(self, addr, write):
        """handle_mm_fault() of an access the area allows: a page of its own, or the zero page for a private read."""
        page = addr & ~(PAGE - 1)
        v = self.vma_at(addr)
        pte = self.ptes.get(page)
        if pte is not None and not (write and pte.zero):
            if write:
                pte.soft_dirty = True  # the write fault after clear_refs write-protected it
            return pte
        if v.shared:
            data = v.shmem.setdefault(page - v.shmem_base, bytearray(PAGE))
            pte = Page(self.alloc_pfn(), False, write, shared_with=data)
        elif write:
            pte = Page(self.alloc_pfn(), False, True)
        else:
            pte = Page(ZERO_PFN, True, False)
        self.ptes[page] = pte
        return pte

    def access(self, addr, write):
        v = self.vma_at(addr)
        if v is None or not v.prot & (PROT_WRITE if write else PROT_READ | PROT_WRITE):
            raise Signal(addr)
        return self.fault(addr, write)

    def populate(self, start, end, write, ignore_errors=False):
        """faultin_page_range() as MADV_POPULATE_* runs it: ENOMEM where no area, EINVAL where the area forbids the access."""
        a = start
        while a < end:
            v = self.vma_at(a)
            if v is None:
                if ignore_errors:
                    return
                raise Errno("ENOMEM", "madvise")
            # check_vma_flags() without FOLL_FORCE
            if not v.prot & (PROT_WRITE if write else PROT_READ):
                if ignore_errors:
                    return
                raise Errno("EINVAL", "madvise")
            while a < min(end, v.end):
                self.fault(a, write)
                a += PAGE

    def madvise(self, addr, length, advice):
        if addr % PAGE:
            raise Errno("EINVAL", "madvise")
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        if advice in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
            self.populate(addr, end, advice == MADV_POPULATE_WRITE)
        elif advice == MADV_DONTNEED:
            for page in [a for a in self.ptes if addr <= a < end]:
                del self.ptes[page]
        else:
            raise Errno("EINVAL", "madvise")

    # --- loads and stores ---------------------------------------------------
    def read(self, addr, length):
        out = bytearray()
        while len(out) < length:
            a = addr + len(out)
            pte = self.access(a, False)
            off = a % PAGE
            n = min(length - len(out), PAGE - off)
            out += bytes(n) if pte.data is None else pte.data[off : off + n]
        return bytes(out)

    def write(self, addr, data):
        done = 0
        while done < len(data):
            a = addr + done
            pte = self.access(a, True)
            off = a % PAGE
            n = min(len(data) - done, PAGE - off)
            pte.data[off : off + n] = data[done : done + n]
            done += n

    # --- /proc/self ---------------------------------------------------------
    def pagemap(self, addr, pages):
        entries = []
        for i in range(pages):
            a = (addr & ~(PAGE - 1)) + i * PAGE
            if a >= TASK_SIZE:
                break
            v, pte = self.vma_at(a), self.ptes.get(a)
            e = 0
            if pte is not None:
                e = PM_PRESENT | pte.pfn
                if pte.soft_dirty:
                    e |= PM_SOFT_DIRTY
                if v.shared:
                    e |= PM_FILE  # a shmem page is not an anonymous page
                elif not pte.zero:
                    e |= PM_MMAP_EXCLUSIVE
            if v is not None and v.soft_dirty_flag:
                e |= PM_SOFT_DIRTY
            entries.append(e)
        return entries

    def smaps(self):
        lines = []
        for v in self.vmas:
            prot = "".join(c if v.prot & b else "-" for c, b in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))
            lines.append(f"{v.start:08x}-{v.end:08x} {prot}{'s' if v.shared else 'p'} 00000000 00:00 0")
            lines.append(f"Size:           {(v.end - v.start) // 1024:8d} kB")
            flags = [f for f, on in (("rd", v.prot & PROT_READ), ("wr", v.prot & PROT_WRITE), ("sh", v.shared), ("sd", v.soft_dirty_flag)) if on]
            lines.append("VmFlags: " + " ".join(flags) + " ")
        return "\n".join(lines) + "\n"

    def clear_refs(self, data):
        if data.strip() != b"4":
            raise Errno("EINVAL", "write")
        # clear_soft_dirty() and the VM_SOFTDIRTY flags (fs/proc/task_mmu.c)
        for v in self.vmas:
            v.soft_dirty_flag = False
        for pte in self.ptes.values():
            pte.soft_dirty = False


# --- the wire --------------------------------------------------------------
RUN = re.compile(r"\*([0-9a-f]{2})([1-9][0-9]*);")


def bytes_of(text):
    out, at = bytearray(), 0
    for m in RUN.finditer(text):
        out += bytes.fromhex(text[at : m.start()]) + bytes([int(m.group(1), 16)]) * int(m.group(2))
        at = m.end()
    return bytes(out + bytes.fromhex(text[at:]))


def hex_of(data):
    """Runs of 4 or more equal bytes as *XXcount; the rest two hex digits a byte, as the native agent writes them."""
    out, i = [], 0
    while i < len(data):
        k = i + 1
        while k < len(data) and data[k] == data[i]:
            k += 1
        out.append(f"*{data[i]:02x}{k - i};" if k - i >= 4 else data[i:k].hex())
        i = k
    return "".join(out)


def u64(value):
    return int(value, 16)


def h(value):
    return f"0x{value & (2**64 - 1):x}"


procs = {}
next_pid = [100]


def files_read(p, path):
    if path == "/proc/self/smaps":
        return p.smaps().encode()
    raise Errno("ENOENT", "open")  # no THP, hugetlb or swap files: those features are absent


def serve(req):
    op = req["op"]
    if op == "hello":
        return {"protocol": 1, "release": "7.2.0-pymodel", "machine": "x86_64", "page_size": PAGE, "ops": OPS}
    if op == "spawn":
        next_pid[0] += 1
        procs[next_pid[0]] = Process()
        return {"proc": next_pid[0]}
    p = procs.get(req.get("proc"))
    if p is None:
        raise KeyError("no such proc")
    if op == "exit":
        del procs[req["proc"]]
        return {}
    if op == "mmap":
        return {"addr": h(p.mmap(u64(req["addr"]), u64(req["len"]), req["prot"], req["flags"], u64(req["offset"])))}
    if op == "munmap":
        p.munmap(u64(req["addr"]), u64(req["len"]))
        return {}
    if op == "mprotect":
        p.mprotect(u64(req["addr"]), u64(req["len"]), req["prot"])
        return {}
    if op == "madvise":
        p.madvise(u64(req["addr"]), u64(req["len"]), req["advice"])
        return {}
    if op in ("read", "write", "fill"):
        try:
            if op == "read":
                return {"data": hex_of(p.read(u64(req["addr"]), req["len"]))}
            data = bytes_of(req["data"]) if op == "write" else bytes([req["byte"]]) * u64(req["len"])
            p.write(u64(req["addr"]), data)
            return {}
        except Signal as s:
            return {"signal": "SIGSEGV", "addr": h(s.addr)}
    if op == "pagemap":
        return {"entries": [h(e) for e in p.pagemap(u64(req["addr"]), req["pages"])]}
    if op == "read_file":
        return {"data": hex_of(files_read(p, req["path"]))}
    if op == "write_file":
        if req["path"] != "/proc/self/clear_refs":
            raise Errno("ENOENT", "open")
        data = bytes_of(req["data"])
        p.clear_refs(data)
        return {"written": len(data)}
    if op == "pagemap_scan":
        raise Errno("ENOTTY", "ioctl")  # /proc/self/pagemap has no ioctls here
    if op == "userfaultfd":
        raise Errno("ENOSYS", "userfaultfd")
    raise KeyError(f"unknown op {op}")


OPS = ["hello", "spawn", "exit", "mmap", "munmap", "mprotect", "madvise", "read", "write", "fill", "pagemap", "read_file", "write_file", "pagemap_scan", "userfaultfd"]


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            reply = {"id": req["id"], "ok": True, **serve(req)}
        except Errno as e:
            reply = {"id": req["id"], "ok": False, "errno": e.name, "call": e.call}
        except (KeyError, TypeError, ValueError) as e:
            reply = {"id": req.get("id"), "error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
