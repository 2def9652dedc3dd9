import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { Side } from './differential.ts';
import type { Target } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { callSequence, type Call } from './calls.ts';
import { differential, shrink } from './differential.ts';
import { parseReplay, replayText } from './replay.ts';
import { runSequence } from './sequence.ts';

async function side(target: Target): Promise<Side> {
  return { target, info: await target.info() };
}

/** The reference, but MADV_DONTNEED fails with EPERM: a disagreement to find. */
async function dontneedRefuser(spec = ''): Promise<Target> {
  const t = await referenceTarget(spec);
  return {
    ...t,
    spawn: async () => {
      const p = await t.spawn();
      return Object.assign(Object.create(p) as typeof p, {
        madvise: (a: bigint, l: bigint, advice: number) => (advice === U.MADV_DONTNEED ? Promise.resolve(new U.Errno('EPERM', 'madvise')) : p.madvise(a, l, advice)),
      });
    },
  };
}

const offer = { hugetlb: true, uffdWp: true, sameArch: true };
const mmap: Call = { op: 'mmap', at: { base: 0, page: 0 }, place: 'fixed', pages: 4, prot: U.PROT_READ | U.PROT_WRITE, shared: false, backing: 'anon', populate: false, noreserve: false, offPages: 0 };

describe('the differential fuzzer', () => {
  test('generated sequences run the same twice on the model: its log is a function of the calls', async () => {
    const t = await referenceTarget('');
    for (const seq of fc.sample(callSequence(offer), { seed: 42, numRuns: 20 })) {
      expect(await runSequence(t, seq)).toEqual(await runSequence(t, seq));
    }
  });

  test('a model agrees with itself', async () => {
    const t = await side(await referenceTarget(''));
    for (const seq of fc.sample(callSequence(offer), { seed: 7, numRuns: 20 })) {
      expect((await differential(seq, [t, t])).verdict.kind).toBe('agree');
    }
  });

  test('a disagreement is found and shrunk to the call that shows it', async () => {
    const sides = [await side(await referenceTarget('')), await side(await dontneedRefuser())] as const;
    const cold: Call = { op: 'madvise', at: { base: 0, page: 1 }, pages: 2, advice: U.MADV_DONTNEED };
    const store: Call = { op: 'store', at: { base: 0, page: 0 }, offset: 0, len: 8 };
    const seq = [mmap, store, cold, store, { op: 'smaps' } as const];
    const o = await differential(seq, sides);
    expect(o.verdict.kind).toBe('differ');
    if (o.verdict.kind !== 'differ') return;
    expect(o.verdict.a?.outcome).toBe('0');
    expect(o.verdict.b?.outcome).toBe('-1 EPERM');
    const small = await shrink(seq, sides, o.verdict);
    expect(small.calls).toEqual([cold]);
  });

  test('a call the target cannot answer ends its log with the reason, and is a disagreement', async () => {
    const t = await referenceTarget('');
    const thrower: Target = {
      ...t,
      spawn: async () => {
        const p = await t.spawn();
        return Object.assign(Object.create(p) as typeof p, { mprotect: () => Promise.reject(new Error('mprotect: not modelled')) });
      },
    };
    const seq: Call[] = [mmap, { op: 'mprotect', at: { base: 0, page: 0 }, pages: 1, prot: U.PROT_READ }, { op: 'smaps' }];
    const log = await runSequence(thrower, seq);
    expect(log.at(-1)?.outcome).toBe('fails: mprotect: not modelled');
    expect(log).toHaveLength(4);
    const o = await differential(seq, [await side(t), await side(thrower)]);
    expect(o.verdict).toMatchObject({ kind: 'differ', line: 3 });
  });

  test("an area the target placed itself, answered as the model answers at another layout: placement", async () => {
    const kernel = await referenceTarget('+mmap_rnd=300'); // stands for a kernel whose ASLR drew 300 pages
    const model = await referenceTarget('');
    const seq: Call[] = [
      { ...mmap, place: 'any', pages: 1000 }, // not a PMD multiple: placed where mmap_base puts it, not PMD-aligned
      { op: 'load', at: { base: 4, page: 0 }, offset: 0, len: 1 },
      { op: 'pagemap', at: { base: 4, page: 0 }, pages: 1000 },
      { op: 'madvise', at: { base: 4, page: 0 }, pages: 1, advice: U.MADV_DONTNEED },
    ];
    const plain = await differential(seq, [await side(model), await side(kernel)]);
    expect(plain.verdict.kind).toBe('differ');
    const layout = async (rnd: number) => referenceTarget(`+mmap_rnd=${rnd}`);
    const o = await differential(seq, [{ ...(await side(model)), layout }, await side(kernel)]);
    expect(o.verdict).toMatchObject({ kind: 'placement' });
    // a wrong answer no layout gives stays a disagreement
    const wrongLayout = async (rnd: number) => dontneedRefuser(`+mmap_rnd=${rnd}`);
    const wrong = await differential(seq, [{ ...(await side(await dontneedRefuser())), layout: wrongLayout }, await side(kernel)]);
    expect(wrong.verdict.kind).toBe('differ');
  }, 60_000);

  test('a replay file carries the calls, features included', () => {
    const calls: Call[] = [mmap, { op: 'uffdio_api', features: U.UFFD_FEATURE_WP_ASYNC }];
    const file = { mmconformFuzz: 1, target: 'reference', against: 'linux-host', seed: 1, sequence: 0, calls, difference: { line: 2, target: 'a', against: 'b' } } as const;
    expect(parseReplay(replayText(file))).toEqual(file);
    expect(() => parseReplay('{"mmconformFuzz":1,"target":"a","against":"b","calls":[{"op":"vfork"}]}')).toThrow('call 0: unknown op "vfork"');
    expect(() => parseReplay('nope')).toThrow(/^not JSON/);
  });
});
