/**
 * The WebGPU backend. Kernels are WGSL programs compiled once per specialisation (PipelineCache); memory
 * comes from a BufferPool; work is batched: dispatches are recorded into one command encoder (one compute
 * pass) and submitted only when the caller reads a value, syncs, flushes, or the uniform arena fills up.
 *
 * Device acquisition is the caller's: pass a `GPU` (Node: the `webgpu` package's `create([])`; Deno and
 * browsers: `navigator.gpu`, the default) or a ready `GPUDevice`. Core imports no runtime's WebGPU.
 */
import {
  BufferLimitError,
  DeviceLostError,
  InvalidArgumentError,
  NoWebGPUAdapterError,
  OutOfMemoryError,
  WebGPUError,
} from "../../errors.ts";
import { type AnyTypedArray, type DType, bytesPerElement, newTypedArray } from "../../tensor/dtype.ts";
import { detectRuntime } from "../../runtime.ts";
import type { Backend, BackendStats, BufferHandle } from "../backend.ts";
import type { GpuFeatures, Kernel } from "../kernel.ts";
import { BindGroupCache } from "./bind-group-cache.ts";
import { BufferPool, type PooledBuffer } from "./buffer-pool.ts";
import { type DeviceWait, plainDeviceWait } from "./device-wait.ts";
import { PipelineCache } from "./pipeline-cache.ts";
import { KernelProfiler, type KernelTime } from "./profiler.ts";
import { GpuBuffer, type GpuStepProgram, GpuStepRecorder, type InputCopy, type ReplayCommand, type ReplayHost } from "./step-recorder.ts";

export interface WebGPUBackendOptions {
  /** The WebGPU entry point; defaults to `navigator.gpu`. */
  readonly gpu?: GPU;
  /** Use this device instead of requesting one. */
  readonly device?: GPUDevice;
  readonly powerPreference?: GPUPowerPreference;
  /** Use subgroup operations where the adapter offers them (default true; false exercises the fallback kernels). */
  readonly subgroups?: boolean;
  /** Bytes of uniforms recorded before an automatic submit (each launch takes one 256-byte slot). */
  readonly uniformArenaBytes?: number;
  /**
   * How to wait for the device (reads, sync); default: await. Node's host passes `sleepingDeviceWait`
   * (device-wait.ts, runners/host.ts), which keeps the `webgpu` package's poller from spinning a core.
   */
  readonly deviceWait?: DeviceWait;
  /**
   * Matmul kernels with workgroup-memory tiles (GpuFeatures.workgroupMemoryTiles). Default: true unless
   * the adapter is a CPU implementation of WebGPU (isCpuAdapter); tests force either kind.
   */
  readonly workgroupMemoryTiles?: boolean;
}

export interface WebGPUBackend extends Backend {
  readonly device: GPUDevice;
  /** What kernels may specialise on (subgroup size…). */
  readonly features: GpuFeatures;
  /** Adapter description for logs: vendor, architecture, device, description. */
  readonly adapterInfo: Readonly<Record<string, string>>;
  /** Number of compiled pipelines. */
  readonly pipelineCount: number;
  /** Destroys pooled buffers that no tensor uses. */
  trimPool(): void;
  /** Starts timing every kernel launch with GPU timestamps (needs the 'timestamp-query' feature). */
  startProfiling(): void;
  /** Stops timing and returns the time per launch key, largest first. */
  stopProfiling(): Promise<KernelTime[]>;
}

/** Requests an adapter and a device with the limits large models need, or fails with a typed error. */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const runtime = detectRuntime();
  let device = options.device;
  let adapterInfo: Record<string, string> = {};
  let subgroupSize = 0;
  let subgroupDirective = true;
  let fallbackAdapter = false;
  if (device) {
    // a device the caller made: its adapter's info where the runtime exposes it (GPUDevice.adapterInfo)
    adapterInfo = describeAdapter((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo);
  } else {
    const gpu = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) throw NoWebGPUAdapterError.of(runtime, "this runtime exposes no navigator.gpu");
    let adapter: GPUAdapter | null;
    try {
      adapter = await gpu.requestAdapter(
        options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
      );
    } catch (e) {
      throw NoWebGPUAdapterError.of(runtime, `requestAdapter failed: ${String(e)}`);
    }
    if (!adapter) throw NoWebGPUAdapterError.of(runtime, "requestAdapter returned null");
    adapterInfo = describeAdapter(adapter.info);
    fallbackAdapter = (adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    // Subgroup kernels assume one fixed subgroup size; adapters with a range (some Intel GPUs) fall back.
    // Deno 2.9 (wgpu) grants 'subgroups' when asked but does not list it in adapter.features (its matmul
    // then ran the subgroup-free kernel, ~3× slower): ask whenever the size is fixed, and retry without
    // the feature if the request is refused.
    const sizes = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const wantSubgroups = (options.subgroups ?? true) && !!sizes.subgroupMinSize && sizes.subgroupMinSize === sizes.subgroupMaxSize;
    const l = adapter.limits;
    const descriptor = (subgroups: boolean): GPUDeviceDescriptor => ({
      requiredFeatures: [
        ...(subgroups ? ["subgroups" as GPUFeatureName] : []),
        // for KernelProfiler only; costs nothing unless profiling is on
        ...(adapter!.features.has("timestamp-query") ? ["timestamp-query" as GPUFeatureName] : []),
      ],
      requiredLimits: {
        maxBufferSize: l.maxBufferSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        // AdamW binds 2k + 2 buffers for a group of k ≤ 8 tensors (core/optim/adamw.ts)
        maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 18),
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      },
    });
    try {
      device = await adapter.requestDevice(descriptor(wantSubgroups));
    } catch (e) {
      if (!wantSubgroups || adapter.features.has("subgroups")) throw e;
      device = await adapter.requestDevice(descriptor(false));
    }
    if (device.features.has("subgroups")) {
      const directive = await probeSubgroupDirective(device);
      if (directive !== null) {
        subgroupSize = sizes.subgroupMinSize!;
        subgroupDirective = directive;
      }
    }
  }
  const workgroupMemoryTiles = options.workgroupMemoryTiles ?? !isCpuAdapter(adapterInfo, fallbackAdapter);
  const features: GpuFeatures = { subgroupSize, subgroupDirective, workgroupMemoryTiles };
  return new WebGPUBackendImpl(device, adapterInfo, features, options.uniformArenaBytes ?? 1 << 20, options.deviceWait ?? plainDeviceWait);
}

/**
 * Whether the adapter runs WebGPU on the CPU (Mesa's lavapipe/llvmpipe, SwiftShader, WARP), from the
 * adapter's own fallback flag or the names in its info. Unknown adapters count as GPUs (so does a device
 * the caller passed in on a runtime without GPUDevice.adapterInfo).
 */
export function isCpuAdapter(info: Readonly<Record<string, string>>, fallbackAdapter = false): boolean {
  if (fallbackAdapter) return true;
  const names = Object.values(info).join(" ");
  return /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|basic render|software/i.test(names);
}

/**
 * How this device's shader compiler takes subgroup operations: with the `enable subgroups;` directive
 * (Tint: Dawn, Chrome) — true —, without it (naga in Deno 2.9 rejects the directive but accepts the
 * builtins) — false —, or not at all — null. Probed once by compiling a tiny kernel each way.
 */
async function probeSubgroupDirective(device: GPUDevice): Promise<boolean | null> {
  const probe = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8) fn main(@builtin(local_invocation_index) i: u32) { out[i] = subgroupBroadcast(f32(i), 0u); }`;
  for (const directive of [true, false]) {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ label: "webpeft subgroup probe", code: `${directive ? "enable subgroups;\n" : ""}${probe}` });
    device.createComputePipeline({ label: "webpeft subgroup probe", layout: "auto", compute: { module, entryPoint: "main" } });
    if ((await device.popErrorScope()) === null) return directive;
  }
  return null;
}

/** The adapter's names (vendor, architecture, device, description) that it reports; {} for none. */
function describeAdapter(info: GPUAdapterInfo | undefined): Record<string, string> {
  if (!info) return {};
  const out: Record<string, string> = {};
  for (const k of ["vendor", "architecture", "device", "description"] as const) {
    const v = info[k];
    if (typeof v === "string" && v) out[k] = v;
  }
  return out;
}

const STORAGE_USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */
const UNIFORM_USAGE = 0x0040 /* UNIFORM */ | 0x0008; /* COPY_DST */
const READBACK_USAGE = 0x0001 /* MAP_READ */ | 0x0008; /* COPY_DST */
const MAP_READ = 0x0001;
const STAGING_USAGE = 0x0004; /* COPY_SRC: an upload's source, written while mapped at creation */

class WebGPUBackendImpl implements WebGPUBackend, ReplayHost {
  readonly name = "webgpu";
  readonly capabilities;
  readonly stepRecorder: GpuStepRecorder;
  /** Buffers that belong to a step program (step-recorder.ts): their frees go to it, not to the pool. */
  private readonly pinned = new Map<PooledBuffer, GpuStepProgram>();
  private pinnedBytes = 0;
  /** Uniform buffers of released step programs, by size, for the next program of that size. */
  private readonly programUniforms = new Map<number, { readonly buffer: GPUBuffer; readonly id: number }[]>();
  private programUniformCount = 0;
  private readonly pool: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly bindGroups: BindGroupCache;
  readonly uniformAlign: number;
  private readonly arena: GPUBuffer;
  private readonly arenaHost: Uint8Array;
  /** The same memory as 32-bit words (uniforms are packed as words). */
  private readonly arenaWords: Uint32Array;
  /** Upload staging buffers recorded into the pending commands, destroyed after their submit. */
  private readonly stagingBuffers: GPUBuffer[] = [];
  /** The pipeline last set in the open compute pass (setPipeline is skipped when the next launch uses it too). */
  private passPipeline: GPUComputePipeline | null = null;
  private arenaUsed = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  private liveBytes = 0;
  private dispatches = 0;
  private submits = 0;
  /** First asynchronous device error not yet reported to the caller. */
  private deviceError: Error | null = null;
  private lost: DeviceLostError | null = null;
  private disposed = false;
  private readonly oomChecks: Promise<void>[] = [];
  private profiler: KernelProfiler | null = null;

  constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: Readonly<Record<string, string>>,
    readonly features: GpuFeatures,
    arenaBytes: number,
    private readonly waitFor: DeviceWait,
  ) {
    const limits = device.limits;
    const maxBufferBytes = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    this.capabilities = { float64: false, maxBufferBytes, asynchronous: true, maxStorageBuffersPerLaunch: limits.maxStorageBuffersPerShaderStage };
    this.uniformAlign = Math.max(256, limits.minUniformBufferOffsetAlignment);
    this.bindGroups = new BindGroupCache();
    this.pool = new BufferPool((bytes) => this.createStorageBuffer(bytes), (buffer) => this.bindGroups.forget(buffer));
    this.pipelines = new PipelineCache(device);
    this.arena = device.createBuffer({ label: "webpeft uniforms", size: arenaBytes, usage: UNIFORM_USAGE });
    this.arenaHost = new Uint8Array(arenaBytes);
    this.arenaWords = new Uint32Array(this.arenaHost.buffer);
    this.stepRecorder = new GpuStepRecorder(this);
    device.lost.then((info) => {
      if (!this.disposed) this.lost = DeviceLostError.of(info.reason ?? "unknown", info.message ?? "");
    });
    device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
      const e = event.error;
      const kind = e.constructor?.name ?? "GPUError";
      this.deviceError ??= new WebGPUError({ kind, message: `WebGPU ${kind}: ${e.message}` });
    };
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private createStorageBuffer(bytes: number): GPUBuffer {
    this.device.pushErrorScope("out-of-memory");
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE_USAGE });
    const held = this.liveBytes + this.pool.pooledBytes;
    this.oomChecks.push(
      this.device.popErrorScope().then((err) => {
        if (err) this.deviceError ??= OutOfMemoryError.of(bytes, held, err.message);
      }),
    );
    return buffer;
  }

  private checkUsable(): void {
    if (this.lost) throw this.lost;
    if (this.disposed) {
      throw DeviceLostError.of("destroyed", "the backend was disposed");
    }
  }

  allocate(dtype: DType, length: number): BufferHandle {
    this.checkUsable();
    if (dtype === "float64") {
      throw InvalidArgumentError.of("allocate", "dtype", "float64 is not supported by WebGPU; use float32");
    }
    const byteLength = length * bytesPerElement[dtype];
    if (byteLength > this.capabilities.maxBufferBytes) {
      const l = this.device.limits;
      const name = l.maxStorageBufferBindingSize <= l.maxBufferSize ? "maxStorageBufferBindingSize" : "maxBufferSize";
      throw BufferLimitError.of(byteLength, name, this.capabilities.maxBufferBytes);
    }
    const buffer = this.pool.acquire(byteLength);
    this.liveBytes += buffer.size;
    const handle = new GpuBuffer(dtype, length, buffer, byteLength);
    this.stepRecorder.active?.onAllocate(handle);
    return handle;
  }

  free(handle: BufferHandle): void {
    const b = this.asGpu(handle);
    b.freed = true;
    this.liveBytes -= b.pooled.size;
    this.stepRecorder.active?.onFree(b);
    const program = this.pinned.get(b.pooled);
    if (program) program.freedHandle(b.pooled);
    else if (!this.disposed) this.pool.release(b.pooled);
  }

  // ReplayHost (step-recorder.ts)

  get profiling(): boolean {
    return this.profiler !== null;
  }

  get recording(): boolean {
    return this.stepRecorder.active !== null;
  }

  pin(p: PooledBuffer, owner: GpuStepProgram): void {
    this.pool.take(p);
    this.pinned.set(p, owner);
    this.pinnedBytes += p.size;
  }

  acquirePinned(bytes: number, owner: GpuStepProgram): PooledBuffer {
    const p = this.pool.acquire(bytes);
    this.pinned.set(p, owner);
    this.pinnedBytes += p.size;
    return p;
  }

  unpin(p: PooledBuffer): void {
    if (this.pinned.delete(p)) this.pinnedBytes -= p.size;
    if (!this.disposed) this.pool.release(p);
  }

  acquireUniformBuffer(bytes: number): { readonly buffer: GPUBuffer; readonly id: number } {
    const free = this.programUniforms.get(bytes);
    const recycled = free?.shift();
    if (recycled) return recycled;
    const buffer = this.device.createBuffer({ label: "webpeft step program uniforms", size: bytes, usage: UNIFORM_USAGE });
    return { buffer, id: this.programUniformCount++ };
  }

  releaseUniformBuffer(uniforms: { readonly buffer: GPUBuffer; readonly id: number }): void {
    const size = uniforms.buffer.size;
    let free = this.programUniforms.get(size);
    if (!free) this.programUniforms.set(size, (free = []));
    free.push(uniforms);
    free.sort((a, b) => a.id - b.id); // the oldest first, like the pool: a program made again gets the same one
  }

  bindGroup(key: string, create: () => { readonly group: GPUBindGroup; readonly buffers: readonly GPUBuffer[] }): GPUBindGroup {
    return this.bindGroups.get(key, create);
  }

  handedOut(p: PooledBuffer): void {
    this.liveBytes += p.size;
  }

  submitPending(): void {
    if (this.pendingDispatches > 0) this.flush();
  }

  /** A step program's replay: the input copies, then its copies and launches, in the open command stream. */
  encode(copies: readonly InputCopy[], commands: readonly ReplayCommand[], launches: number): void {
    this.checkUsable();
    this.endPass();
    const encoder = (this.encoder ??= this.device.createCommandEncoder());
    for (const c of copies) encoder.copyBufferToBuffer(c.from, 0, c.to, 0, c.bytes);
    let pass: GPUComputePassEncoder | null = null;
    let current: GPUComputePipeline | null = null;
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      if (c.pipeline === null) {
        if (pass) {
          pass.end();
          pass = null;
          current = null;
        }
        encoder.copyBufferToBuffer(c.src!, c.srcOffset, c.dst!, c.dstOffset, c.bytes);
        continue;
      }
      pass ??= encoder.beginComputePass();
      if (c.pipeline !== current) {
        pass.setPipeline(c.pipeline);
        current = c.pipeline;
      }
      pass.setBindGroup(0, c.group);
      pass.dispatchWorkgroups(c.x, c.y, c.z);
    }
    // eager launches that follow continue in the same pass
    this.pass = pass;
    this.passPipeline = current;
    this.pendingDispatches += copies.length + commands.length;
    this.dispatches += launches;
  }

  upload(handle: BufferHandle, data: AnyTypedArray, offset = 0): void {
    this.checkUsable();
    const b = this.asGpu(handle);
    if (data.length === 0) return;
    const bytes = bytesPerElement[b.dtype];
    const byteLength = data.length * bytes;
    this.stepRecorder.active?.onUpload(b, offset * bytes, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + byteLength)));
    if (this.pendingDispatches === 0 || byteLength % 4 !== 0 || (offset * bytes) % 4 !== 0) {
      // queue.writeBuffer runs before any command buffer submitted later, so commands recorded so far
      // (which may still read this buffer's previous owner's data) are submitted first
      if (this.pendingDispatches > 0) this.flush();
      this.device.queue.writeBuffer(b.buffer, offset * bytes, data.buffer, data.byteOffset, byteLength);
      return;
    }
    // Commands are pending: copy through a staging buffer recorded in the same command stream, so the
    // write stays in order without a submit in the middle of a step (a training step uploads its input
    // ids and position buckets between launches; each submit there started the device early and split
    // the step's recording). The staging buffer is destroyed once submitted (the device keeps it alive
    // until the copy has run).
    const staging = this.device.createBuffer({ size: byteLength, usage: STAGING_USAGE, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, byteLength));
    staging.unmap();
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(staging, 0, b.buffer, offset * bytes, byteLength);
    this.pendingDispatches++;
    this.stagingBuffers.push(staging);
  }

  async read(handle: BufferHandle, offset: number, length: number): Promise<AnyTypedArray> {
    this.checkUsable();
    const b = this.asGpu(handle);
    const bytes = bytesPerElement[b.dtype];
    const out = newTypedArray(b.dtype, length);
    this.stepRecorder.active?.onRead();
    if (length === 0) return out;
    const staging = this.device.createBuffer({ size: length * bytes, usage: READBACK_USAGE });
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(b.buffer, offset * bytes, staging, 0, length * bytes);
    this.pendingDispatches++;
    this.flush();
    try {
      await this.waitFor(staging.mapAsync(MAP_READ));
      const mapped = staging.getMappedRange();
      new Uint8Array(out.buffer).set(new Uint8Array(mapped));
      staging.unmap();
    } catch (e) {
      await this.throwPendingError();
      throw new WebGPUError({ kind: "mapAsync", message: `reading a buffer back failed: ${String(e)}` });
    } finally {
      staging.destroy();
    }
    await this.throwPendingError();
    return out;
  }

  /**
   * Records one launch. This is the hot path of every step (hundreds of launches, each a few µs of
   * JavaScript on top of the three native calls): no per-launch shader text, bind group or typed-array view.
   */
  dispatch<P>(kernel: Kernel<P>, params: P, buffers: readonly BufferHandle[]): void {
    this.checkUsable();
    const launch = kernel.gpu(params, this.features);
    const [x, y, z] = launch.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipelines.get(launch.key, launch.source);
    const uniforms = launch.uniforms;
    const uniformBytes = uniforms.byteLength;
    const slot = Math.ceil(uniformBytes / this.uniformAlign) * this.uniformAlign;
    if (this.arenaUsed + slot > this.arenaHost.byteLength) this.flush();
    const uniformOffset = this.arenaUsed;
    this.arenaWords.set(uniforms, uniformOffset / 4);
    this.arenaUsed += slot;

    // The group is determined by the pipeline (launch key, which also fixes the uniform size), the uniform
    // slot and the bound buffers with their bound sizes (see bind-group-cache.ts).
    const gpu: GpuBuffer[] = [];
    let key = `${launch.key}|${uniformOffset}`;
    for (const h of buffers) {
      const b = this.asGpu(h);
      gpu.push(b);
      key += `|${b.pooled.id}:${b.boundBytes}`;
    }
    const bindGroup = this.bindGroups.get(key, () => {
      const entries: GPUBindGroupEntry[] = gpu.map((b, binding) => ({ binding, resource: { buffer: b.buffer, size: b.boundBytes } }));
      entries.push({ binding: buffers.length, resource: { buffer: this.arena, offset: uniformOffset, size: uniformBytes } });
      return { group: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), buffers: gpu.map((b) => b.buffer) };
    });
    this.stepRecorder.active?.onLaunch({ key: launch.key, pipeline, workgroups: launch.workgroups, uniforms: uniforms.slice(), buffers: gpu });

    if (this.profiler) {
      // one pass per dispatch, bracketed by timestamps
      if (this.profiler.full) this.flush();
      this.endPass();
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass({ timestampWrites: this.profiler.next(launch.key) });
    } else if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    const pass = this.pass!;
    if (this.passPipeline !== pipeline) {
      pass.setPipeline(pipeline);
      this.passPipeline = pipeline;
    }
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.pendingDispatches++;
    this.dispatches++;
  }

  startProfiling(): void {
    if (!this.device.features.has("timestamp-query")) {
      throw new WebGPUError({ kind: "profiling", message: "kernel profiling needs the WebGPU feature 'timestamp-query', which this adapter does not offer" });
    }
    this.flush();
    this.profiler ??= new KernelProfiler(this.device);
  }

  async stopProfiling(): Promise<KernelTime[]> {
    const profiler = this.profiler;
    if (!profiler) return [];
    this.flush();
    this.profiler = null;
    const report = await profiler.report();
    profiler.destroy();
    return report;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
      this.passPipeline = null;
    }
  }

  flush(): void {
    if (!this.encoder || this.pendingDispatches === 0) return;
    this.endPass();
    if (this.arenaUsed > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaHost.buffer, 0, this.arenaUsed);
    }
    const collectTimes = this.profiler?.resolveInto(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    collectTimes?.();
    for (const staging of this.stagingBuffers.splice(0)) staging.destroy();
    this.encoder = null;
    this.arenaUsed = 0;
    this.pendingDispatches = 0;
    this.submits++;
  }

  async sync(): Promise<void> {
    this.checkUsable();
    this.flush();
    await this.waitFor(this.device.queue.onSubmittedWorkDone());
    await this.throwPendingError();
  }

  private async throwPendingError(): Promise<void> {
    if (this.oomChecks.length > 0) await Promise.all(this.oomChecks.splice(0));
    if (this.lost) throw this.lost;
    const e = this.deviceError;
    if (e) {
      this.deviceError = null;
      throw e;
    }
  }

  stats(): BackendStats {
    return { liveBytes: this.liveBytes, pooledBytes: this.pool.pooledBytes, dispatches: this.dispatches, submits: this.submits, bindGroupsCreated: this.bindGroups.misses, stepProgramBytes: this.pinnedBytes };
  }

  trimPool(): void {
    this.pool.trim();
  }

  dispose(): void {
    if (this.disposed) return;
    this.flush();
    this.disposed = true;
    this.bindGroups.clear();
    this.pool.destroyAll();
    this.arena.destroy();
    this.device.destroy();
  }

  private asGpu(handle: BufferHandle): GpuBuffer {
    if (!(handle instanceof GpuBuffer)) {
      throw new InvalidArgumentError({ op: "webgpu backend", argument: "buffer", message: "buffer belongs to another backend" });
    }
    return handle;
  }
}
