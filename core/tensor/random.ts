/**
 * Seeded host-side randomness: initial weights and test data (randn/rand in create.ts) and the seeds of
 * dropout masks. splitmix32 is small, fast and reproducible across runtimes.
 */
export class Generator {
  private state_: number;

  constructor(seed = 0) {
    this.state_ = seed >>> 0;
  }

  /** The whole generator state (one 32-bit word), to replay a sequence of draws. */
  get state(): number {
    return this.state_;
  }

  set state(value: number) {
    this.state_ = value >>> 0;
  }

  /** Uniform 32-bit integer. */
  nextUint32(): number {
    this.state_ = (this.state_ + 0x9e3779b9) >>> 0;
    let z = this.state_;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

let global = new Generator(0x5eed);

/** Reseeds the global generator (dropout seeds, randn/rand without an explicit seed). */
export function manualSeed(seed: number): void {
  global = new Generator(seed);
}

export function globalGenerator(): Generator {
  return global;
}

/** Where `nextSeed` also writes the seeds it draws while a step is recorded (capture.ts), else null. */
let seedLog: number[] | null = null;

/** A fresh 32-bit seed from the global generator. */
export function nextSeed(): number {
  const seed = global.nextUint32();
  seedLog?.push(seed);
  return seed;
}

/** Runs `f`, appending every seed `nextSeed` draws meanwhile to `log` (step recording, core/tensor/capture.ts). */
export function logSeeds<T>(log: number[], f: () => T): T {
  const outer = seedLog;
  seedLog = log;
  try {
    return f();
  } finally {
    seedLog = outer;
  }
}
