/**
 * Bind groups reused across launches.
 *
 * Why: a bind group is a native object that WebGPU cannot destroy explicitly; runtimes free it when the
 * JavaScript wrapper is garbage-collected. The wrapper is tiny, so V8 sees no pressure to collect it, while
 * the driver may hold real resources for it: Mesa's lavapipe maps one memfd region per descriptor set,
 * and a training run creating one bind group per launch (~2,500 per step) reached Linux's
 * vm.max_map_count (65,530) between collections — Deno then crashed inside the driver (mmap failed,
 * memset on MAP_FAILED). Creating a bind group is also the most expensive JavaScript call of a launch.
 *
 * How: pipelines whose bindings have the same shape (see `bindingSignature`) share one explicit bind
 * group layout whose uniform binding takes a dynamic offset into the backend's uniform arena, and storage
 * buffers are bound whole (kernels index by uniforms, never by arrayLength). A bind group then depends
 * only on (layout, buffers), which repeats step after step: the buffer pool hands out the same buffers.
 *
 * Bound: at most `capacity` groups are kept (least recently used go first); a destroyed buffer's groups
 * are dropped at once so that no cached group refers to a dead buffer.
 */
export class BindGroupCache {
  private readonly groups = new Map<string, { group: GPUBindGroup; buffers: readonly GPUBuffer[] }>();
  private readonly keysOfBuffer = new Map<GPUBuffer, Set<string>>();
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  hits = 0;
  misses = 0;

  constructor(
    private readonly device: GPUDevice,
    /** The device's maxStorageBufferBindingSize: a pooled buffer's size class may round up past it. */
    private readonly maxBindingBytes: number,
    private readonly capacity = 16384,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) this.ids.set(buffer, (id = this.nextId++));
    return id;
  }

  /**
   * The bind group of `layout` for the whole storage `buffers` (bindings 0…n-1) and `uniformBytes` of the
   * uniform arena at binding n, placed by a dynamic offset.
   */
  get(layout: SharedLayout, buffers: readonly GPUBuffer[], arena: GPUBuffer, uniformBytes: number): GPUBindGroup {
    let key = layout.signature;
    for (const buffer of buffers) key += `|${this.idOf(buffer)}`;
    const cached = this.groups.get(key);
    if (cached) {
      this.hits++;
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.groups.delete(key);
      this.groups.set(key, cached);
      return cached.group;
    }
    this.misses++;
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({
      binding,
      resource: { buffer, size: Math.min(buffer.size, Math.floor(this.maxBindingBytes / 4) * 4) },
    }));
    entries.push({ binding: buffers.length, resource: { buffer: arena, offset: 0, size: uniformBytes } });
    const group = this.device.createBindGroup({ layout: layout.bindGroupLayout, entries });
    if (this.groups.size >= this.capacity) this.evict(this.groups.keys().next().value!);
    this.groups.set(key, { group, buffers });
    for (const b of buffers) {
      let keys = this.keysOfBuffer.get(b);
      if (!keys) this.keysOfBuffer.set(b, (keys = new Set()));
      keys.add(key);
    }
    return group;
  }

  /** Drops every group that binds `buffer` (call before destroying it). */
  forget(buffer: GPUBuffer): void {
    const keys = this.keysOfBuffer.get(buffer);
    if (!keys) return;
    for (const key of [...keys]) this.evict(key);
    this.keysOfBuffer.delete(buffer);
  }

  clear(): void {
    this.groups.clear();
    this.keysOfBuffer.clear();
  }

  private evict(key: string): void {
    const entry = this.groups.get(key);
    if (!entry) return;
    this.groups.delete(key);
    for (const b of entry.buffers) this.keysOfBuffer.get(b)?.delete(key);
  }
}

/** An explicit bind group layout shared by every pipeline whose bindings have the same shape. */
export interface SharedLayout {
  /**
   * Per storage binding its access ("r" read-only, "w" read_write) and element size in bytes, then "u" and
   * the uniform slot size: "r4.r16.w4.u256". Element sizes are part of the shape because wgpu re-reads
   * a shader's minimum binding sizes only when the pipeline layout changes, so pipelines sharing a
   * layout must also share those minimums (an array<vec4<f32>> needs 16 bytes, an array<f32> 4).
   */
  readonly signature: string;
  readonly bindGroupLayout: GPUBindGroupLayout;
  readonly pipelineLayout: GPUPipelineLayout;
}

const DECLARATION = /@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(storage|uniform)\s*(?:,\s*(read_write|read)\s*)?>\s*\w+\s*:\s*([^;]+);/g;
const ELEMENT_BYTES: Record<string, number> = { f32: 4, i32: 4, u32: 4, "vec2<f32>": 8, "vec2<i32>": 8, "vec2<u32>": 8, "vec4<f32>": 16, "vec4<i32>": 16, "vec4<u32>": 16 };

/**
 * The layout signature of a WGSL program that follows the kernel binding contract (core/backend/kernel.ts:
 * storage arrays at @group(0) @binding(0…n-1), the uniform struct at @binding(n), no other bindings), or
 * null when it does not: such programs keep WebGPU's "auto" layout and a new bind group per launch.
 */
export function bindingSignature(wgsl: string, uniformSlotBytes: number): string | null {
  const bindings: string[] = [];
  for (const m of wgsl.matchAll(DECLARATION)) {
    const index = Number(m[1]);
    if (bindings[index] !== undefined) return null;
    if (m[2] === "uniform") {
      bindings[index] = `u${uniformSlotBytes}`;
      continue;
    }
    const element = /^array\s*<\s*(.+?)\s*>$/.exec(m[4]!.replace(/\s+/g, ""))?.[1];
    const bytes = element === undefined ? undefined : ELEMENT_BYTES[element];
    if (bytes === undefined) return null;
    bindings[index] = `${m[3] === "read_write" ? "w" : "r"}${bytes}`;
  }
  const n = bindings.length;
  // contiguous (Array.prototype.includes sees holes as undefined), one uniform and it comes last, and no
  // binding declaration the pattern did not understand
  if (n === 0 || bindings.includes(undefined as unknown as string)) return null;
  if (bindings.findIndex((b) => b.startsWith("u")) !== n - 1) return null;
  if ((wgsl.match(/@binding\s*\(/g) ?? []).length !== n) return null;
  return bindings.join(".");
}

export function createSharedLayout(device: GPUDevice, signature: string): SharedLayout {
  const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
  const entries: GPUBindGroupLayoutEntry[] = signature.split(".").map((kind, binding) => ({
    binding,
    visibility: COMPUTE,
    buffer: kind.startsWith("u") ? { type: "uniform", hasDynamicOffset: true } : { type: kind.startsWith("w") ? "storage" : "read-only-storage" },
  }));
  const bindGroupLayout = device.createBindGroupLayout({ label: `webpeft ${signature}`, entries });
  const pipelineLayout = device.createPipelineLayout({ label: `webpeft ${signature}`, bindGroupLayouts: [bindGroupLayout] });
  return { signature, bindGroupLayout, pipelineLayout };
}
