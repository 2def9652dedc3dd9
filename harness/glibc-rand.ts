// glibc's rand() (stdlib/random_r.c, TYPE_3: an additive feedback generator
// over 34 words), unseeded as a C program that never calls srand() is:
// seed 1. Ports whose C draws with rand() make the same draws with it.

const DEG = 31;
const SEP = 3;

export class GlibcRand {
  private readonly r: Int32Array = new Int32Array(DEG);
  private f = SEP;
  private b = 0;

  /** srand(seed): __srandom_r's Park-Miller fill, then 310 draws discarded */
  constructor(seed = 1) {
    let word = seed === 0 ? 1 : seed | 0;
    this.r[0] = word;
    for (let i = 1; i < DEG; i++) {
      // 16807 * word % 2147483647 without overflowing 31 bits (Schrage's method)
      const hi = Math.trunc(word / 127773);
      const lo = word % 127773;
      word = 16807 * lo - 2836 * hi;
      if (word < 0) word += 2147483647;
      this.r[i] = word;
    }
    for (let i = 0; i < DEG * 10; i++) this.rand();
  }

  /** rand(): 0 .. RAND_MAX (2^31 - 1) */
  rand(): number {
    const { r } = this;
    const val = ((r[this.f] as number) + (r[this.b] as number)) | 0;
    r[this.f] = val;
    this.f = (this.f + 1) % DEG;
    this.b = (this.b + 1) % DEG;
    return val >>> 1;
  }
}
