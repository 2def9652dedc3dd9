// Page content stored by the line.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PageBytes } from './page-bytes.ts';

const PAGE = 4096;

describe('PageBytes', () => {
  test('reads back what was written or filled, across lines, as a plain page would', () => {
    // writes, and fills (memset) of a byte, zero half the time, of part of a page or all of it; drops and copies
    const arbStore = fc.record({
      pfn: fc.integer({ min: 0, max: 3 }),
      off: fc.integer({ min: 0, max: PAGE - 1 }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }),
      fill: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 }))),
      whole: fc.boolean(),
      other: fc.option(fc.tuple(fc.constantFrom('drop', 'copy'), fc.integer({ min: 0, max: 3 })), { freq: 6 }),
    });
    fc.assert(
      fc.property(fc.array(arbStore, { maxLength: 20 }), (writes) => {
        const b = new PageBytes();
        const plain = Array.from({ length: 4 }, () => new Uint8Array(PAGE));
        for (const w of writes) {
          if (w.other?.[0] === 'drop') {
            b.drop(w.pfn);
            plain[w.pfn]!.fill(0);
            continue;
          }
          if (w.other?.[0] === 'copy') {
            b.copy(w.pfn, w.other[1]);
            plain[w.pfn]!.set(plain[w.other[1]]!);
            continue;
          }
          if (w.fill !== null && w.whole) {
            b.fill(w.pfn, 0, PAGE, w.fill);
            plain[w.pfn]!.fill(w.fill);
            continue;
          }
          const bytes = w.bytes.subarray(0, PAGE - w.off);
          if (w.fill === null) {
            b.write(w.pfn, w.off, bytes);
            plain[w.pfn]!.set(bytes, w.off);
          } else {
            b.fill(w.pfn, w.off, bytes.length, w.fill);
            plain[w.pfn]!.fill(w.fill, w.off, w.off + bytes.length);
          }
        }
        for (let pfn = 0; pfn < 4; pfn++) {
          const out = new Uint8Array(PAGE);
          b.read(pfn, 0, out);
          expect(Buffer.from(out).equals(plain[pfn]!)).toBe(true); // toEqual walks 4096 elements slowly
          expect(b.isZero(pfn)).toBe(plain[pfn]!.every((x) => x === 0));
          const at = writes.length % PAGE;
          expect(b.readByte(pfn, at)).toBe(plain[pfn]![at]);
        }
      }),
    );
  });

  test('a byte store takes one line, and a dropped page reads zero even when its lines are reused', () => {
    const b = new PageBytes();
    b.writeByte(7, 300, 0xaa);
    expect(b.readByte(7, 300)).toBe(0xaa);
    expect(b.readByte(7, 301)).toBe(0);
    expect(b.size).toBe(1);
    b.drop(7);
    expect(b.has(7)).toBe(false);
    b.writeByte(8, 0, 1); // reuses the freed line: the rest of it must be zero
    expect(b.readByte(8, 300 % 256)).toBe(0);
    const out = new Uint8Array(PAGE);
    b.read(8, 0, out);
    expect(out.reduce((s, x) => s + x, 0)).toBe(1);
  });

  test('copy makes an independent page', () => {
    const b = new PageBytes();
    b.write(1, 4000, Uint8Array.of(1, 2, 3));
    b.copy(2, 1);
    b.writeByte(1, 4000, 9);
    expect(b.readByte(2, 4000)).toBe(1);
    expect(b.readByte(2, 4002)).toBe(3);
    b.copy(2, 3); // a page never written copies as zeroes
    expect(b.has(2)).toBe(false);
  });
});
