/**
 * Captured steps: a function over input tensors (a training step's forward, backward and gradient clipping)
 * that, once it has run twice identically for one set of input shapes, is replayed on the device without
 * running its JavaScript again (backend.stepRecorder; core/backend/webgpu/step-recorder.ts).
 *
 *   const step = captureStep((inputs) => { …; return [loss, norm]; }, { parameters });
 *   const [loss, norm] = step.run([ids, mask, labels, decoderIds]);   // like calling the function
 *
 * Semantics: `run` returns what the function would return, and sets the parameters' `.grad` as it would;
 * replayed results are bit-identical to eager ones (the same kernels read the same kind of buffers, and the
 * dropout seeds are drawn from the global generator in the same order, so the generator also ends where
 * an eager run leaves it). A run is eager, and says why in `stats.lastReason`, whenever a replay could
 * differ from the function:
 *  - the backend cannot record (the CPU backends), or kernel profiling is on;
 *  - the inputs' shapes, or the host state named by `stateKey`, are new (the first two runs of each are
 *    recorded eagerly), or an input is a strided view;
 *  - an input's integer values leave the declared `inputRanges` (the ops check ids only when the
 *    function runs; a replay would read them unchecked);
 *  - a parameter already has a gradient (the function would add to it);
 *  - a result of the previous run is still held (a replay writes the results into the same memory);
 *  - a long-lived buffer the step reads (a weight) was freed;
 *  - the two recordings differed: data uploaded inside the function changed (per-step data must be an
 *    input), the function read a value back, drew random numbers other than dropout seeds, or left a
 *    tensor alive that it did not return. After 3 such attempts for one shape it stays eager.
 *
 * What the function may depend on: its inputs' contents (copied into the program on each run), the values
 * of long-lived tensors (weights, read where they are), dropout seeds, and host state named by `stateKey`.
 * Anything else on the host (a flag read inside, a learning rate baked into a launch) is frozen at
 * recording — the same contract as CUDA graphs. Launch-visible differences between the two recordings are
 * caught; a flag that changes later is not, unless `stateKey` names it.
 *
 * Memory: each program keeps every buffer its step allocated (activations, temporaries, results), so
 * `maxPrograms` (default 4) bounds how many input shapes are kept at once; the least recently used goes.
 */
import type { Backend, BufferHandle, StepProgram, StepRecording } from "../backend/backend.ts";
import { InvalidArgumentError } from "../errors.ts";
import { logSeeds, nextSeed } from "./random.ts";
import { Storage, Tensor, type IntRange } from "./tensor.ts";

export interface CaptureOptions {
  /** Parameters whose gradients the function produces; each must have none when a run starts. */
  readonly parameters?: readonly Tensor[];
  /**
   * Per input, the integer values the function accepts (e.g. [0, vocab) ids as { min: 0, max: vocab − 1 }),
   * checked against each input's `intRange` before a replay. An input without a declared range may only
   * replay with values inside the range it had when recorded. null: not an integer input.
   */
  readonly inputRanges?: readonly (IntRange | null)[];
  /** Programs kept, one per set of input shapes (default 4). 0 records nothing (always eager). */
  readonly maxPrograms?: number;
  /**
   * The host state the function's launches depend on besides its inputs' shapes, as a string (e.g. the
   * active adapter and train/eval mode): a replay only follows a recording made with the same state. A
   * replay does not run the function, so state it reads and this key does not name is frozen at recording.
   */
  readonly stateKey?: () => string;
}

export interface CaptureStats {
  /** Runs of the function itself (including recorded ones). */
  readonly eager: number;
  readonly recorded: number;
  readonly replayed: number;
  /** Programs held now. */
  readonly programs: number;
  /** Why the last run that could have replayed did not; null after a replay. */
  readonly lastReason: string | null;
}

/** Where a result lives: which output buffer, with its geometry. */
interface ResultLayout {
  readonly buffer: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly requiresGrad: boolean;
}

interface Recorded {
  readonly recording: StepRecording;
  readonly inputs: readonly BufferHandle[];
  readonly ranges: readonly (IntRange | undefined)[];
  readonly seeds: readonly number[];
  readonly outputs: readonly BufferHandle[];
  /** The function's results, then one per parameter (null: no gradient). */
  readonly layouts: readonly (ResultLayout | null)[];
}

interface ShapeEntry {
  previous: Recorded | null;
  program: { readonly program: StepProgram; readonly seeds: number; readonly ranges: readonly (IntRange | undefined)[]; readonly layouts: readonly (ResultLayout | null)[]; readonly results: number } | null;
  failures: number;
  /** Why the last two recordings of this shape did not make a program. */
  failure: string | null;
}

/** Recordings of one shape that may fail to repeat before the shape stays eager. */
const MAX_ATTEMPTS = 3;
/** Input shapes remembered (a recording waiting for its repeat, or a program). */
const MAX_SHAPES = 64;

export class CapturedStep<R extends readonly Tensor[]> {
  private readonly parameters: readonly Tensor[];
  private readonly maxPrograms: number;
  /** By input shapes, least recently used first. */
  private readonly entries = new Map<string, ShapeEntry>();
  private counts = { eager: 0, recorded: 0, replayed: 0 };
  private lastReason: string | null = null;

  constructor(
    private readonly fn: (inputs: readonly Tensor[]) => R,
    private readonly options: CaptureOptions = {},
  ) {
    this.parameters = options.parameters ?? [];
    this.maxPrograms = options.maxPrograms ?? 4;
    if (!Number.isInteger(this.maxPrograms) || this.maxPrograms < 0) throw InvalidArgumentError.of("captureStep", "maxPrograms", `${this.maxPrograms} is not a count ≥ 0`);
  }

  get stats(): CaptureStats {
    let programs = 0;
    for (const e of this.entries.values()) if (e.program) programs++;
    return { ...this.counts, programs, lastReason: this.lastReason };
  }

  /** Runs the step: a replay when a program for these input shapes can run, else the function itself. */
  run(inputs: readonly Tensor[]): R {
    if (!Array.isArray(inputs)) throw InvalidArgumentError.of("captureStep.run", "inputs", "expected an array of tensors");
    inputs.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw InvalidArgumentError.of("captureStep.run", `inputs[${i}]`, `expected a tensor, got ${t === null ? "null" : typeof t}`);
    });
    const backend = inputs[0]?.backend ?? this.parameters[0]?.backend;
    const recorder = backend?.stepRecorder;
    if (this.maxPrograms === 0) return this.eager(inputs, "capture is off (maxPrograms 0)");
    if (!backend || !recorder) return this.eager(inputs, backend ? `the ${backend.name} backend cannot record steps` : "no inputs or parameters");
    const shapes = shapeKey(inputs);
    if (typeof shapes !== "string") return this.eager(inputs, shapes.reason);
    const key = this.options.stateKey ? `${shapes}|${this.options.stateKey()}` : shapes;
    const withGrad = this.parameters.find((p) => p.grad !== null);
    if (withGrad) return this.eager(inputs, `a parameter of shape [${withGrad.shape.join(", ")}] already has a gradient (clear gradients before the step)`);
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key); // re-inserted last: least recently used first
      this.entries.set(key, entry);
    } else {
      entry = { previous: null, program: null, failures: 0, failure: null };
      this.entries.set(key, entry);
      this.evict();
    }
    if (entry.program) {
      const handles = inputs.map((t) => t.bufferFor("captured step"));
      const blocker = entry.program.program.blocker(handles) ?? this.rangeBlocker(inputs, entry.program.ranges);
      if (blocker) return this.eager(inputs, blocker);
      return this.replay(backend, entry.program, handles);
    }
    if (entry.failures >= MAX_ATTEMPTS) return this.eager(inputs, `gave up after ${MAX_ATTEMPTS} attempts: ${entry.failure}`);
    return this.record(entry, inputs);
  }

  /** Releases every program (their memory returns to the backend's pool). */
  release(): void {
    for (const e of this.entries.values()) e.program?.program.release();
    this.entries.clear();
  }

  /** Least recently used first: programs beyond maxPrograms, and shapes beyond MAX_SHAPES (their recordings). */
  private evict(): void {
    let programs = 0;
    for (const e of this.entries.values()) if (e.program) programs++;
    for (const [key, e] of this.entries) {
      const tooManyPrograms = programs > this.maxPrograms;
      const tooManyShapes = this.entries.size > MAX_SHAPES;
      if (!tooManyPrograms && !tooManyShapes) break;
      if (e.program ? !tooManyPrograms : !tooManyShapes) continue;
      if (e.program) {
        e.program.program.release();
        programs--;
      }
      this.entries.delete(key);
    }
  }

  private eager(inputs: readonly Tensor[], reason: string): R {
    this.lastReason = reason;
    this.counts.eager++;
    return this.fn(inputs);
  }

  private rangeBlocker(inputs: readonly Tensor[], recorded: readonly (IntRange | undefined)[]): string | null {
    for (let i = 0; i < inputs.length; i++) {
      const allowed = this.options.inputRanges?.[i] ?? recorded[i];
      if (!allowed) continue;
      const r = inputs[i]!.intRange;
      if (!r) return `input ${i} has no known value range (make it from host data)`;
      if (r.min < allowed.min || r.max > allowed.max) return `input ${i} holds values in [${r.min}, ${r.max}], outside [${allowed.min}, ${allowed.max}]`;
    }
    return null;
  }

  private record(entry: ShapeEntry, inputs: readonly Tensor[]): R {
    const recorder = inputs[0]!.backend.stepRecorder!;
    const seeds: number[] = [];
    this.counts.eager++;
    this.counts.recorded++;
    try {
      recorder.begin();
    } catch {
      return this.eager(inputs, "another step is being recorded (a captured step inside a captured step runs as written)");
    }
    let results: R;
    try {
      results = logSeeds(seeds, () => this.fn(inputs));
    } catch (e) {
      recorder.end();
      throw e;
    }
    const recording = recorder.end();
    const outputs: BufferHandle[] = [];
    const layoutOf = (t: Tensor): ResultLayout => {
      const b = t.bufferFor("captured step");
      let i = outputs.indexOf(b);
      if (i < 0) i = outputs.push(b) - 1;
      return { buffer: i, shape: t.shape, strides: t.strides, offset: t.offset, requiresGrad: t.requiresGrad };
    };
    if (!Array.isArray(results)) {
      throw InvalidArgumentError.of("captureStep", "fn", `a step function returns an array of tensors, synchronously; this one returned ${results instanceof Promise ? "a promise" : typeof results}`);
    }
    // A result whose backward has not run yet (its node still has a rule) would lose its graph in a replay.
    const notResult = results.find((t) => !(t instanceof Tensor) || t.node?.rule || t.backend !== inputs[0]!.backend);
    const layouts = [...results.map((t) => (t instanceof Tensor ? layoutOf(t) : null)), ...this.parameters.map((p) => (p.grad ? layoutOf(p.grad) : null))];
    const current: Recorded = { recording, inputs: inputs.map((t) => t.bufferFor("captured step")), ranges: inputs.map((t) => t.intRange), seeds, outputs, layouts };
    const previous = entry.previous;
    entry.previous = current;
    let failure: string | null = null;
    if (notResult) failure = "a result is not a tensor of the inputs' backend, or its backward has not run";
    else if (previous && !sameLayouts(previous.layouts, layouts)) failure = "the two recordings returned results (or gradients) of different layouts";
    else if (previous) {
      const compiled = recorder.compile(previous.recording, recording, { inputs: [previous.inputs, current.inputs], seeds: [previous.seeds, seeds], outputs });
      if (typeof compiled === "string") failure = compiled;
      else {
        const ranges = current.ranges.map((r, i) => union(r, previous.ranges[i]));
        entry.program = { program: compiled, seeds: seeds.length, ranges, layouts, results: results.length };
        entry.previous = null;
        this.lastReason = null;
        this.evict();
        return results;
      }
    }
    if (failure) {
      entry.failures++;
      entry.failure = failure;
      this.lastReason = `not replayable: ${failure}`;
    } else this.lastReason = "the first run of these input shapes is recorded";
    return results;
  }

  private replay(backend: Backend, entry: NonNullable<ShapeEntry["program"]>, inputs: readonly BufferHandle[]): R {
    // The seeds an eager run would draw, in the same order (the generator ends where it would).
    const seeds = Array.from({ length: entry.seeds }, () => nextSeed());
    const handles = entry.program.replay(inputs, seeds);
    const storages = handles.map((h) => new Storage(backend, h));
    const used = new Array<number>(handles.length).fill(0);
    const make = (l: ResultLayout) => {
      if (used[l.buffer]!++ > 0) storages[l.buffer]!.retain();
      const t = new Tensor(storages[l.buffer]!, l.shape, l.strides, l.offset);
      t.requiresGrad = l.requiresGrad;
      return t;
    };
    const results = entry.layouts.slice(0, entry.results).map((l) => make(l!)) as unknown as R;
    this.parameters.forEach((p, i) => {
      const l = entry.layouts[entry.results + i];
      if (l) p.grad = make(l);
    });
    this.counts.replayed++;
    this.lastReason = null;
    return results;
  }
}

/** A step that replays its recorded launches when it can (see the module comment). */
export function captureStep<R extends readonly Tensor[]>(fn: (inputs: readonly Tensor[]) => R, options: CaptureOptions = {}): CapturedStep<R> {
  return new CapturedStep(fn, options);
}

function shapeKey(inputs: readonly Tensor[]): string | { reason: string } {
  let key = "";
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    if (!t.isContiguous || t.offset !== 0) return { reason: `input ${i} is a strided view (replays copy whole buffers: pass contiguous tensors)` };
    key += `${t.dtype}[${t.shape.join(",")}];`;
  }
  return key;
}

function union(a: IntRange | undefined, b: IntRange | undefined): IntRange | undefined {
  if (!a || !b) return undefined;
  return { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

function sameLayouts(a: readonly (ResultLayout | null)[], b: readonly (ResultLayout | null)[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (!x || !y) return x === y;
    return x.buffer === y.buffer && x.offset === y.offset && x.requiresGrad === y.requiresGrad && x.shape.join() === y.shape.join() && x.strides.join() === y.strides.join();
  });
}
