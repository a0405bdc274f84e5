/**
 * Step recording and replay for the WebGPU backend: the device side of core/tensor/capture.ts.
 *
 * Why: a training step issues ~700 launches, and the JavaScript above each launch (ops, views, autograd,
 * scopes, launch keys, uniform packing, bind group lookup) costs ~20 µs, against ~4 µs for the three
 * native calls (setPipeline, setBindGroup, dispatchWorkgroups). When the same step repeats with the same
 * shapes, everything but the inputs' contents and the dropout seeds is the same every time, so the second
 * identical recording can be replayed: its pipelines, bind groups and uniforms are kept, and a replay is
 * a loop of native calls (CUDA graphs and torch.compile's "reduce-overhead" mode work the same way).
 *
 * What a recording holds: every allocation, upload and launch between `begin` and `end`, in order, with
 * the buffers each launch binds. Buffers are compared across recordings by role, not identity: the k-th
 * allocation of the step, the i-th input, or the same long-lived buffer (a weight). A recording cannot be
 * replayed when the step read a value back (the host then depended on data) or freed a buffer it did not
 * allocate (a weight disposed, which a replay would still read).
 *
 * What a program owns: every buffer the recorded step allocated (taken out of the pool, so that work between
 * steps cannot reuse them; temporaries keep the aliasing they had), a buffer per input that each replay
 * copies the caller's inputs into, one uniform slot per launch, the upload bytes, and one bind group per
 * launch. The step's results live in its own buffers: each replay hands out fresh handles on them, and the
 * next replay waits (`blocker`) until they have all been freed, since it overwrites them.
 */
import type { BufferHandle, StepPlan, StepProgram, StepRecorder, StepRecording } from "../backend.ts";
import type { DType } from "../../tensor/dtype.ts";
import type { PooledBuffer } from "./buffer-pool.ts";

/** A tensor's buffer on the WebGPU backend: one allocation (a fresh object per allocate or replay output). */
export class GpuBuffer implements BufferHandle {
  readonly buffer: GPUBuffer;
  /** Bytes bound for a launch: the bytes used rounded up to whole words (WGSL arrays of 4-byte elements). */
  readonly boundBytes: number;
  /** Set by free(): a program refuses to replay once a long-lived buffer it reads was freed. */
  freed = false;
  constructor(
    readonly dtype: DType,
    readonly length: number,
    readonly pooled: PooledBuffer,
    /** Bytes the tensor uses (the GPU buffer may be larger, see sizeClass). */
    readonly byteLength: number,
  ) {
    this.buffer = pooled.gpu;
    this.boundBytes = Math.max(4, Math.ceil(byteLength / 4) * 4);
  }
}

interface RecordedLaunch {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly workgroups: readonly [number, number, number];
  readonly uniforms: Uint32Array;
  readonly buffers: readonly GpuBuffer[];
}

interface RecordedUpload {
  readonly target: GpuBuffer;
  readonly byteOffset: number;
  readonly bytes: Uint8Array;
}

type RecordedEvent = { readonly launch: RecordedLaunch } | { readonly upload: RecordedUpload };

/** One recorded step. The backend calls the `on*` methods while it is the active recording. */
export class Recording implements StepRecording {
  launches = 0;
  unusable: string | null = null;
  readonly allocations: GpuBuffer[] = [];
  readonly allocationIndex = new Map<GpuBuffer, number>();
  readonly events: RecordedEvent[] = [];

  onAllocate(b: GpuBuffer): void {
    this.allocationIndex.set(b, this.allocations.length);
    this.allocations.push(b);
  }

  /** Buffers allocated before the step and freed during it (a replay must not read them: checked in compile). */
  readonly freedBefore = new Set<GpuBuffer>();

  onFree(b: GpuBuffer): void {
    // A collected tensor's finalizer may free an unrelated buffer meanwhile: only those the step reads matter.
    if (!this.allocationIndex.has(b)) this.freedBefore.add(b);
  }

  onUpload(target: GpuBuffer, byteOffset: number, bytes: Uint8Array): void {
    if (byteOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) this.unusable ??= `it uploaded ${bytes.byteLength} bytes at byte ${byteOffset}, not whole words`;
    this.events.push({ upload: { target, byteOffset, bytes } });
  }

  onRead(): void {
    this.unusable ??= "it read a value back to the host (the host then depends on the data)";
  }

  onLaunch(launch: RecordedLaunch): void {
    this.events.push({ launch });
    this.launches++;
  }
}

/** What a program needs from the backend that owns it. */
export interface ReplayHost {
  readonly device: GPUDevice;
  /** Bytes between uniform slots (minUniformBufferOffsetAlignment, at least 256). */
  readonly uniformAlign: number;
  /** Takes `p` out of the pool's free lists (if it is there) and routes its frees to `owner`. */
  pin(p: PooledBuffer, owner: GpuStepProgram): void;
  /** A new buffer of `bytes` owned by `owner` (pinned). */
  acquirePinned(bytes: number, owner: GpuStepProgram): PooledBuffer;
  /** Ends a program's hold on `p` and returns it to the pool. */
  unpin(p: PooledBuffer): void;
  /** Counts a handle handed out on a program's buffer as live memory. */
  handedOut(p: PooledBuffer): void;
  /** Submits commands not yet submitted (before a queue.writeBuffer that they must not see). */
  submitPending(): void;
  /**
   * A uniform buffer of `bytes` for a program, with a short name for bind group keys: recycled (a program
   * made again for the same step gets the same one back, so its bind groups are found in the cache).
   */
  acquireUniformBuffer(bytes: number): { readonly buffer: GPUBuffer; readonly id: number };
  releaseUniformBuffer(uniforms: { readonly buffer: GPUBuffer; readonly id: number }): void;
  /**
   * The backend's cached bind group for `key` (bind-group-cache.ts), else the one `create` makes. Bind
   * groups are only freed by garbage collection, and lavapipe maps memory for each one: programs made
   * again and again (batch shapes coming and going) must find theirs instead of making new ones.
   */
  bindGroup(key: string, create: () => { readonly group: GPUBindGroup; readonly buffers: readonly GPUBuffer[] }): GPUBindGroup;
  /** Records the copies, then the program's commands, into the backend's open command stream. */
  encode(copies: readonly InputCopy[], commands: readonly ReplayCommand[], launches: number): void;
  readonly profiling: boolean;
  /** Whether a step is being recorded (a replay inside it would be missing from the recording). */
  readonly recording: boolean;
}

export interface InputCopy {
  readonly from: GPUBuffer;
  readonly to: GPUBuffer;
  readonly bytes: number;
}

/** A launch (pipeline set) or a copy (src set) of a program, in recorded order. */
export interface ReplayCommand {
  readonly pipeline: GPUComputePipeline | null;
  readonly group: GPUBindGroup | null;
  readonly x: number;
  readonly y: number;
  readonly z: number;
  readonly src: GPUBuffer | null;
  readonly srcOffset: number;
  readonly dst: GPUBuffer | null;
  readonly dstOffset: number;
  readonly bytes: number;
}

const CONSTANTS_USAGE = 0x0004; /* COPY_SRC */

export class GpuStepRecorder implements StepRecorder {
  active: Recording | null = null;

  constructor(private readonly host: ReplayHost) {}

  begin(): void {
    if (this.active) throw new Error("a step recording is already running");
    this.active = new Recording();
    if (this.host.profiling) this.active.unusable = "kernel profiling was on";
  }

  end(): StepRecording {
    const r = this.active;
    if (!r) throw new Error("no step recording is running");
    this.active = null;
    return r;
  }

  compile(previousRecording: StepRecording, lastRecording: StepRecording, plan: StepPlan): StepProgram | string {
    const previous = previousRecording as Recording;
    const last = lastRecording as Recording;
    if (!(previous instanceof Recording) || !(last instanceof Recording)) return "the recordings come from another backend";
    const unusable = previous.unusable ?? last.unusable;
    if (unusable) return `the step cannot be replayed: ${unusable}`;
    if (previous.events.length !== last.events.length || previous.launches !== last.launches) {
      return `the two recordings differ in length (${previous.launches} and ${last.launches} launches, ${previous.events.length} and ${last.events.length} commands)`;
    }
    if (previous.allocations.length !== last.allocations.length) return `the two recordings allocated ${previous.allocations.length} and ${last.allocations.length} buffers`;
    for (let k = 0; k < last.allocations.length; k++) {
      const [a, b] = [previous.allocations[k]!, last.allocations[k]!];
      if (a.dtype !== b.dtype || a.length !== b.length) return `allocation ${k} differs: ${a.dtype}[${a.length}] then ${b.dtype}[${b.length}]`;
    }
    const [prevInputs, lastInputs] = plan.inputs.map((list) => list.map((h) => h as GpuBuffer)) as [GpuBuffer[], GpuBuffer[]];
    if (prevInputs.length !== lastInputs.length) return "the two recordings have different numbers of inputs";
    // A buffer's role: "a<k>" (k-th allocation), "i<k>" (k-th input), or the long-lived buffer itself.
    const role = (r: Recording, inputs: readonly GpuBuffer[], b: GpuBuffer): string | GpuBuffer => {
      const k = r.allocationIndex.get(b);
      if (k !== undefined) return `a${k}`;
      const i = inputs.indexOf(b);
      return i >= 0 ? `i${i}` : b;
    };
    const sameRole = (a: GpuBuffer, b: GpuBuffer) => !previous.freedBefore.has(a) && !last.freedBefore.has(b) && role(previous, prevInputs, a) === role(last, lastInputs, b);
    const seedIndex = (seeds: readonly number[]) => {
      const index = new Map<number, number>();
      seeds.forEach((s, j) => index.set(s >>> 0, index.has(s >>> 0) ? -1 : j)); // a repeated value is ambiguous
      return index;
    };
    const [prevSeeds, lastSeeds] = [seedIndex(plan.seeds[0]), seedIndex(plan.seeds[1])];
    /** Uniform words that hold seeds: [launch number, word, seed number]. */
    const patches: [number, number, number][] = [];
    let launchNumber = 0;
    for (let e = 0; e < last.events.length; e++) {
      const [pe, le] = [previous.events[e]!, last.events[e]!];
      if ("upload" in le) {
        if (!("upload" in pe)) return `command ${e} is an upload in one recording and a launch in the other`;
        const [pu, lu] = [pe.upload, le.upload];
        if (!sameRole(pu.target, lu.target) || pu.byteOffset !== lu.byteOffset || !sameBytes(pu.bytes, lu.bytes)) {
          return `upload ${e} (${lu.bytes.byteLength} bytes into a ${lu.target.dtype} buffer) differs between the recordings (or its buffer was freed during the step): data that changes per step must be an input of the step`;
        }
        continue;
      }
      if (!("launch" in pe)) return `command ${e} is a launch in one recording and an upload in the other`;
      const [pl, ll] = [pe.launch, le.launch];
      const what = `launch ${launchNumber} (${ll.key.slice(0, 60)})`;
      if (pl.key !== ll.key) return `${what} runs another kernel in the first recording (${pl.key.slice(0, 60)})`;
      if (pl.workgroups.some((w, i) => w !== ll.workgroups[i])) return `${what} has other workgroup counts`;
      if (pl.buffers.length !== ll.buffers.length || pl.buffers.some((b, i) => !sameRole(b, ll.buffers[i]!) || b.boundBytes !== ll.buffers[i]!.boundBytes)) {
        return `${what} binds buffers that do not correspond between the recordings, or that the step freed without having allocated them`;
      }
      if (pl.uniforms.length !== ll.uniforms.length) return `${what} has uniforms of another size`;
      for (let w = 0; w < ll.uniforms.length; w++) {
        const [a, b] = [pl.uniforms[w]!, ll.uniforms[w]!];
        if (a === b) continue;
        const j = prevSeeds.get(a);
        if (j === undefined || j < 0 || lastSeeds.get(b) !== j) return `${what}: uniform word ${w} differs (${a} then ${b}) and is not a seed the step drew`;
        patches.push([launchNumber, w, j]);
      }
      launchNumber++;
    }
    // Results: buffers the step allocated and did not free; and nothing else may outlive the step.
    const outputs = plan.outputs.map((h) => h as GpuBuffer);
    for (const o of outputs) {
      if (!last.allocationIndex.has(o)) return "a result of the step is not a buffer the step allocated (an input or a weight returned as is)";
      if (o.freed) return "a result of the step was freed during the step";
    }
    const outputSet = new Set(outputs);
    for (const b of last.allocations) {
      if (!b.freed && !outputSet.has(b)) {
        return `a ${b.dtype} tensor of ${b.length} elements made during the step outlived it without being one of its results (a cache filled by the step, or a tensor not disposed)`;
      }
    }
    return new GpuStepProgram(this.host, last, lastInputs, outputs, patches);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class GpuStepProgram implements StepProgram {
  readonly launches: number;
  private released = false;
  /** Every buffer the program holds, with how many handed-out handles on it are not yet freed. */
  private readonly held = new Map<PooledBuffer, number>();
  private readonly inputSlots: GpuBuffer[];
  /** Long-lived buffers the step reads: a replay needs each still allocated. */
  private readonly external: GpuBuffer[];
  private readonly commands: ReplayCommand[] = [];
  private readonly uniforms: { readonly buffer: GPUBuffer; readonly id: number };
  private readonly uniformWords: Uint32Array;
  /** [word in uniformWords, seed number] */
  private readonly seedWords: [number, number][];
  private readonly seedRange: [number, number];
  private readonly constants: GPUBuffer | null = null;
  private outstanding = 0;

  constructor(
    private readonly host: ReplayHost,
    recording: Recording,
    inputs: readonly GpuBuffer[],
    private readonly outputs: readonly GpuBuffer[],
    patches: readonly [number, number, number][],
  ) {
    this.launches = recording.launches;
    for (const b of recording.allocations) {
      if (!this.held.has(b.pooled)) {
        host.pin(b.pooled, this);
        this.held.set(b.pooled, 0);
      }
    }
    // The results are still held by the recorded step's tensors.
    for (const o of outputs) this.held.set(o.pooled, (this.held.get(o.pooled) ?? 0) + 1);
    this.outstanding = outputs.length;
    this.inputSlots = inputs.map((b) => {
      const pooled = host.acquirePinned(b.byteLength, this);
      this.held.set(pooled, 0);
      return new GpuBuffer(b.dtype, b.length, pooled, b.byteLength);
    });
    const slotOf = new Map(inputs.map((b, i) => [b, this.inputSlots[i]!]));
    const external = new Set<GpuBuffer>();
    const bound = (b: GpuBuffer) => {
      const slot = slotOf.get(b);
      if (slot) return slot;
      if (!recording.allocationIndex.has(b)) external.add(b);
      return b;
    };

    const align = host.uniformAlign;
    const device = host.device;
    this.uniforms = host.acquireUniformBuffer(Math.max(align, this.launches * align));
    const uniformBuffer = this.uniforms.buffer;
    this.uniformWords = new Uint32Array((this.launches * align) / 4);
    let constantBytes = 0;
    for (const e of recording.events) if ("upload" in e) constantBytes += e.upload.bytes.byteLength;
    let constantsView: Uint8Array | null = null;
    if (constantBytes > 0) {
      this.constants = device.createBuffer({ label: "webpeft step program uploads", size: constantBytes, usage: CONSTANTS_USAGE, mappedAtCreation: true });
      constantsView = new Uint8Array(this.constants.getMappedRange());
    }
    let launch = 0;
    let constantOffset = 0;
    for (const e of recording.events) {
      if ("upload" in e) {
        const { target, byteOffset, bytes } = e.upload;
        constantsView!.set(bytes, constantOffset);
        this.commands.push({ pipeline: null, group: null, x: 0, y: 0, z: 0, src: this.constants, srcOffset: constantOffset, dst: bound(target).buffer, dstOffset: byteOffset, bytes: bytes.byteLength });
        constantOffset += bytes.byteLength;
        continue;
      }
      const l = e.launch;
      const slot = launch * align;
      this.uniformWords.set(l.uniforms, slot / 4);
      const used = l.buffers.map(bound);
      // named like the backend's own keys (pipeline, buffers by pool id with bound sizes, uniform slot)
      let key = `${l.key}|P${this.uniforms.id}:${slot}`;
      for (const b of used) key += `|${b.pooled.id}:${b.boundBytes}`;
      const group = host.bindGroup(key, () => {
        const entries: GPUBindGroupEntry[] = used.map((b, binding) => ({ binding, resource: { buffer: b.buffer, size: b.boundBytes } }));
        entries.push({ binding: used.length, resource: { buffer: uniformBuffer, offset: slot, size: l.uniforms.byteLength } });
        return { group: device.createBindGroup({ label: "webpeft step program", layout: l.pipeline.getBindGroupLayout(0), entries }), buffers: used.map((b) => b.buffer) };
      });
      const [x, y, z] = l.workgroups;
      this.commands.push({ pipeline: l.pipeline, group, x, y, z, src: null, srcOffset: 0, dst: null, dstOffset: 0, bytes: 0 });
      launch++;
    }
    this.constants?.unmap();
    this.external = [...external];
    this.seedWords = patches.map(([n, w, j]) => [(n * align) / 4 + w, j]);
    const words = this.seedWords.map(([w]) => w);
    this.seedRange = words.length > 0 ? [Math.min(...words), Math.max(...words) + 1] : [0, 0];
    device.queue.writeBuffer(uniformBuffer, 0, this.uniformWords.buffer, 0, this.uniformWords.byteLength);
  }

  blocker(inputs: readonly BufferHandle[]): string | null {
    if (this.released) return "the program was released";
    if (this.host.profiling) return "kernel profiling is on (it times eager launches one by one)";
    if (this.host.recording) return "a step is being recorded (its recording would not contain this replay)";
    if (this.outstanding > 0) return `${this.outstanding} result(s) of the previous step are still held (a replay overwrites them: dispose them first)`;
    if (inputs.length !== this.inputSlots.length) return `the step takes ${this.inputSlots.length} inputs, got ${inputs.length}`;
    for (let i = 0; i < inputs.length; i++) {
      const b = inputs[i] as GpuBuffer;
      const slot = this.inputSlots[i]!;
      if (!(b instanceof GpuBuffer) || b.freed) return `input ${i} is not a live buffer of this backend`;
      if (b.dtype !== slot.dtype || b.byteLength !== slot.byteLength) return `input ${i} is ${b.dtype}[${b.length}], the recorded step had ${slot.dtype}[${slot.length}]`;
    }
    for (const b of this.external) if (b.freed) return `a ${b.dtype} buffer of ${b.length} elements that the step reads (a weight?) was freed since it was recorded`;
    return null;
  }

  replay(inputs: readonly BufferHandle[], seeds: readonly number[]): BufferHandle[] {
    const blocked = this.blocker(inputs);
    if (blocked) throw new Error(`cannot replay the step: ${blocked}`);
    if (this.seedWords.length > 0) {
      // queue.writeBuffer lands before every later submit: commands still unsubmitted (which may include
      // the previous replay) must go first, or they would read this step's seeds.
      this.host.submitPending();
      for (const [w, j] of this.seedWords) this.uniformWords[w] = seeds[j]! >>> 0;
      const [from, to] = this.seedRange;
      this.host.device.queue.writeBuffer(this.uniforms.buffer, from * 4, this.uniformWords.buffer, from * 4, (to - from) * 4);
    }
    const copies = inputs.map((h, i) => ({ from: (h as GpuBuffer).buffer, to: this.inputSlots[i]!.buffer, bytes: this.inputSlots[i]!.boundBytes }));
    this.host.encode(copies, this.commands, this.launches);
    return this.outputs.map((o) => {
      this.held.set(o.pooled, this.held.get(o.pooled)! + 1);
      this.outstanding++;
      this.host.handedOut(o.pooled);
      return new GpuBuffer(o.dtype, o.length, o.pooled, o.byteLength);
    });
  }

  /** The backend calls this when a handle on one of the program's buffers is freed. */
  freedHandle(p: PooledBuffer): void {
    const n = this.held.get(p);
    if (n === undefined || n === 0) return; // a temporary of the recorded step, freed during it
    this.held.set(p, n - 1);
    this.outstanding--;
    if (this.released && n === 1) {
      this.held.delete(p);
      this.host.unpin(p);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.host.submitPending(); // recorded commands may use the uploads destroyed below
    for (const [p, n] of this.held) {
      if (n > 0) continue; // returns when its handle is freed (freedHandle)
      this.held.delete(p);
      this.host.unpin(p);
    }
    // queue.writeBuffer into a recycled buffer is ordered after the work submitted above
    this.host.releaseUniformBuffer(this.uniforms);
    this.constants?.destroy();
  }
}
