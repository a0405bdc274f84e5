/**
 * The seeded generator of the data layer (shuffling, synthetic data). Own and tiny on purpose: batches and
 * generated files must not change when the engine's generator changes. Marsaglia's xorshift32 (shifts
 * 13, 17, 5) plus a Weyl sequence, with the seed words mixed by a multiply-xorshift hash so that
 * neighbouring seeds (epoch 0, 1, 2…) start far apart.
 */
export class SeededRandom {
  private x: number;
  private w: number;

  constructor(...seeds: number[]) {
    let h = 0x6a09e667;
    for (const s of seeds.length > 0 ? seeds : [0]) {
      // Fold the low and high 32 bits of each seed into the state.
      h = mix(h ^ (s >>> 0));
      h = mix(h ^ Math.floor(s / 2 ** 32));
    }
    this.x = h || 0x9e3779b9;
    this.w = mix(h ^ 0x85ebca6b);
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    this.w = (this.w + 0x9e3779b9) >>> 0;
    return (this.x + this.w) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.nextUint32() / 2 ** 32) * n);
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { [i: number]: unknown; length: number }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }
}

function mix(v: number): number {
  let z = v >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
