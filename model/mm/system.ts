// What a modelled kernel shares between its processes: physical memory, the
// filesystem, and its configuration (layout, version, hardware, THP).

import type { Layout } from '../arm64/layout.ts';
import { IpcNamespace } from '../ipc/shm.ts';
import { pgtable, type Pgtable } from '../arm64/pgtable.ts';
import { protectionMap } from '../arm64/prot.ts';
import type { HwFeatures } from '../arm64/walk.ts';
import type { KernelBehaviour } from '../kernel.ts';
import { HugetlbPool } from './hugetlb.ts';
import { kernelFunctions, type KernelFunctionOverrides, type KernelFunctions } from '../kernel-functions.ts';
import type { Mm, MmOverrides } from './mm.ts';
import { PhysMem } from './physmem.ts';
import { type Inode, Tmpfs } from './shmem.ts';
import { LruBatches } from './swap.ts';
import { type SwapDevice, swapDevice } from './swapfile.ts';

/** /sys/kernel/mm/transparent_hugepage */
export interface ThpSettings {
  readonly enabled: 'always' | 'madvise' | 'never';
  readonly useZeroPage: boolean;
}

export interface SystemConfig {
  readonly layout: Layout;
  readonly kernel: KernelBehaviour;
  /** FEAT_HAFDBS as the CPU has it and Linux enables it */
  readonly hw: HwFeatures;
  /** FEAT_EPAN: exec-only mappings */
  readonly epan: boolean;
  readonly thp: ThpSettings;
  /** pagemap shows PFNs (the reader has CAP_SYS_ADMIN) */
  readonly showPfn: boolean;
  /** page-table helpers of a variant (harness/plugin.ts) in place of the layout's own */
  readonly mutate?: (pg: Pgtable) => Pgtable;
  /** kernel functions of a variant in place of each mm's own */
  readonly mmOverrides?: MmOverrides;
  /** kernel functions of a variant in place of the model's (kernel-functions.ts) */
  readonly functions?: KernelFunctionOverrides;
  /** the swap device's size in bytes; 0 for no swap */
  readonly swapBytes: bigint;
  /** 2 MiB hugetlb pages reserved at boot (hugepages=N) */
  readonly hugetlbPages: number;
  /** NUMA nodes with memory, the CPU on node 0 (default 1) */
  readonly numaNodes?: number;
  /** arch_mmap_rnd(): pages mmap_base sits below its highest place (a kernel draws it at exec; 0 by default) */
  readonly mmapRnd?: bigint;
  /**
   * Whether a read fault of anonymous memory maps the shared zero page (or
   * the huge zero page) as every upstream kernel does (true, the default), or
   * a zeroed page of its own, as a kernel booted with the vendor parameter
   * pvm_no_zero_page=1 does (measured on 6.18.44-fc: pte and THP faults and
   * MADV_POPULATE_READ allocate; UFFDIO_ZEROPAGE still maps the zero page).
   */
  readonly readFaultZeroPage?: boolean;
}

/**
 * /init's size: a stand-in for the agent's static arm64 binary (845 KiB),
 * so that a test mapping /proc/self/exe maps as many pages as in the arm64
 * guests (the descriptor comparison with them tells when the agent outgrows it)
 */
export const EXE_SIZE = 0xd_3270n;

export class System {
  readonly phys = new PhysMem();
  readonly tmpfs = new Tmpfs();
  readonly pg: Pgtable;
  /** the kernel functions a variant may replace, called through here */
  readonly fn: KernelFunctions;
  /** swapon'ed device, if any */
  swap: SwapDevice | null;
  /** shmem_swaplist: the files with pages on swap, for swapoff's shmem_unuse() */
  readonly shmemSwaplist = new Set<Inode>();
  readonly hugetlb: HugetlbPool;
  readonly prots: readonly bigint[];
  /** the LRU's per-CPU batches (one CPU) */
  readonly lru: LruBatches;
  /** every live process's mm: where a file's mappings are looked for (the i_mmap trees' job) */
  readonly mms = new Set<Mm>();
  readonly ipc = new IpcNamespace(this);
  /** the program every process runs, /proc/self/exe: the agent's binary, as the QEMU guests have it */
  readonly exe: Inode;
  private nextAnonVma = 1;
  private nextPid = 1000;
  thp: ThpSettings;

  constructor(readonly cfg: SystemConfig) {
    const pg = pgtable(cfg.layout, { kernel: cfg.kernel });
    this.pg = cfg.mutate ? cfg.mutate(pg) : pg;
    this.fn = kernelFunctions(cfg.functions);
    this.prots = protectionMap(cfg.layout, { epan: cfg.epan });
    this.thp = cfg.thp;
    this.swap = cfg.swapBytes > 0n ? swapDevice(this) : null;
    this.hugetlb = new HugetlbPool(cfg.hugetlbPages, cfg.numaNodes ?? 1);
    this.lru = new LruBatches(cfg.kernel);
    this.exe = this.tmpfs.create('/init');
    this.exe.size = EXE_SIZE;
  }

  /** anon_vma_alloc(): a fresh anon_vma identity */
  newAnonVma(): number {
    return this.nextAnonVma++;
  }
  newPid(): number {
    return this.nextPid++;
  }
}
