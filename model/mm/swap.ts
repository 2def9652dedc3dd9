// The LRU's per-CPU folio batches and the page flags they move (mm/swap.c,
// as MGLRU runs it: Debian's kernels enable it). What MADV_COLD and
// MADV_FREE queue (folio_deactivate(), folio_mark_lazyfree()) takes effect
// when the batch fills or is drained (lru_add_drain()), which smaps shows
// (Referenced, LazyFree). One CPU, as the QEMU guests have.

import type { KernelBehaviour } from '../kernel.ts';
import type { Folio } from './physmem.ts';

/** FOLIO_BATCH_SIZE */
const FOLIO_BATCH_SIZE = 31;

/** cpu_fbatches: the batches that hold what the model can see. */
export class LruBatches {
  readonly deactivate: Folio[] = [];
  readonly lazyfree: Folio[] = [];
  constructor(private readonly kernel: KernelBehaviour) {}

  // lru_deactivate(): with MGLRU every folio is moved, its references forgotten
  private readonly lruDeactivate = (f: Folio): void => {
    f.referenced = false;
  };

  // lru_lazyfree(): a clean anonymous folio reclaim may drop (!PG_swapbacked)
  private readonly lruLazyfree = (f: Folio): void => {
    if (!f.anon || !f.swapbacked) return;
    if (!this.kernel.lruGenFaultReferenced) f.referenced = false;
    f.swapbacked = false;
  };

  // folio_batch_add_and_move(): a full batch, or a large folio (!folio_may_be_lru_cached()), moves at once
  private addAndMove(batch: Folio[], f: Folio, move: (f: Folio) => void): void {
    batch.push(f);
    if (batch.length < FOLIO_BATCH_SIZE && f.nrPages === 1) return;
    for (const g of batch.splice(0)) move(g);
  }

  // folio_deactivate(): with MGLRU, lru_gen_clear_refs() forgets the references at once and, as the
  // folio is not in the oldest generation (nothing ages them in the model), queues the move as well
  folioDeactivate(f: Folio): void {
    f.referenced = false;
    this.addAndMove(this.deactivate, f, this.lruDeactivate);
  }

  // folio_mark_lazyfree()
  folioMarkLazyfree(f: Folio): void {
    if (!f.anon || !f.swapbacked) return;
    this.addAndMove(this.lazyfree, f, this.lruLazyfree);
  }

  // lru_add_drain() -> lru_add_drain_cpu(): deactivations before lazyfrees
  drain(): void {
    for (const f of this.deactivate.splice(0)) this.lruDeactivate(f);
    for (const f of this.lazyfree.splice(0)) this.lruLazyfree(f);
  }
}

// folio_mark_accessed() -> lru_gen_inc_refs(): PG_referenced first (further references are not visible)
export function folioMarkAccessed(f: Folio): void {
  f.referenced = true;
}
