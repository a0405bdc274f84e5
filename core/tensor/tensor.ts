/**
 * Tensor: a strided view (shape, strides, offset) of reference-counted device storage, plus autograd state.
 * Views (reshape of contiguous data, permute, transpose, slice, expand) share storage and cost nothing;
 * kernels read strided operands directly.
 *
 * Memory: each Tensor object holds one reference to its storage. `dispose()` drops it (idempotent); the
 * storage's buffer returns to the backend when its last reference goes. Tensors that are garbage
 * collected without dispose are released by a FinalizationRegistry (safety net only; use `tidy`).
 */
import type { Backend, BufferHandle } from "../backend/backend.ts";
import { BackendMismatchError, DisposedTensorError, ShapeError } from "../errors.ts";
import { backward as runBackward, type BackwardOptions, type GradNode } from "./autograd.ts";
import type { AnyTypedArray, DType } from "./dtype.ts";
import { registerTensorCheck, trackTensor } from "./scope.ts";
import { type Shape, contiguousStrides, formatShape, isContiguous, sizeOf } from "./shape.ts";
import * as ew from "./ops/elementwise.ts";
import * as red from "./ops/reduce.ts";
import * as views from "./ops/views.ts";
import * as mm from "./ops/matmul.ts";
import * as sm from "./ops/softmax.ts";
import * as drop from "./ops/dropout.ts";
import { fillLike } from "./ops/fill.ts";

export class Storage {
  private refs = 1;
  constructor(
    readonly backend: Backend,
    readonly buffer: BufferHandle,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.backend.free(this.buffer);
  }
  get alive(): boolean {
    return this.refs > 0;
  }
}

/** What the finalizer needs: the storage, whether the tensor already released it, and whether it is registered. */
interface StorageRef {
  storage: Storage;
  released: boolean;
  finalizable: boolean;
}

const finalizer = new FinalizationRegistry<StorageRef>((ref) => {
  if (!ref.released) {
    ref.released = true;
    ref.storage.release();
  }
});

/** Inclusive range of the values of an int tensor whose data came from the host (for index checks). */
export interface IntRange {
  readonly min: number;
  readonly max: number;
}

export class Tensor {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly backend: Backend;
  readonly size: number;
  /** Set for int tensors built from host data: lets gather/cross-entropy reject bad ids eagerly. */
  readonly intRange: IntRange | undefined;
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward` (contiguous, same shape). */
  grad: Tensor | null = null;
  /** The recorded op that produced this tensor (null for leaves and untracked tensors). */
  node: GradNode | null = null;
  private readonly ref: StorageRef;

  /** Internal: adopts one reference to `storage` (callers retain first when sharing). Use the creation functions. */
  constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number, intRange?: IntRange) {
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = storage.buffer.dtype;
    this.backend = storage.backend;
    this.size = sizeOf(shape);
    this.intRange = intRange;
    this.ref = { storage, released: false, finalizable: false };
    if (!trackTensor(this)) this.armFinalizer();
  }

  /**
   * Internal: registers the finalizer safety net (idempotent). Tensors created inside `tidy` skip it until
   * they leave every scope (scope.ts calls this then): the temporaries a scope disposes never need it, and
   * registering and unregistering thousands per training step cost measurable host time and GC work.
   */
  armFinalizer(): void {
    if (this.ref.finalizable || this.ref.released) return;
    this.ref.finalizable = true;
    finalizer.register(this, this.ref, this.ref);
  }

  /** A new contiguous tensor with uninitialised contents. */
  static empty(backend: Backend, shape: Shape, dtype: DType): Tensor {
    const storage = new Storage(backend, backend.allocate(dtype, Math.max(1, sizeOf(shape))));
    return new Tensor(storage, shape, contiguousStrides(shape), 0);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Whether the finalizer safety net is registered (internal; see armFinalizer). */
  get finalizerArmed(): boolean {
    return this.ref.finalizable;
  }

  get isDisposed(): boolean {
    return this.ref.released;
  }

  /** The storage, or a typed error naming `op` when this tensor was disposed. */
  storageFor(op: string): Storage {
    if (this.ref.released) {
      throw new DisposedTensorError({ op, message: `${op}: tensor of shape ${formatShape(this.shape)} was used after dispose()` });
    }
    return this.ref.storage;
  }

  /** The buffer (for kernel launches), checked like `storageFor`. */
  bufferFor(op: string): BufferHandle {
    return this.storageFor(op).buffer;
  }

  /** A view of the same storage with other geometry (no autograd: ops record it). */
  view(shape: Shape, strides: readonly number[], offset: number): Tensor {
    const storage = this.storageFor("view");
    storage.retain();
    return new Tensor(storage, shape, strides, offset, this.intRange);
  }

  /** Another handle on the same data with its own reference (autograd's saved tensors use this). */
  retainHandle(): Tensor {
    return this.view(this.shape, this.strides, this.offset);
  }

  dispose(): void {
    if (this.ref.released) return;
    this.ref.released = true;
    if (this.ref.finalizable) finalizer.unregister(this.ref);
    this.ref.storage.release();
  }

  /** Throws when `other` lives on a different backend. */
  sameBackend(op: string, other: Tensor): void {
    if (other.backend !== this.backend) {
      throw new BackendMismatchError({
        op,
        message: `${op}: operands live on different backends (${this.backend.name} and ${other.backend.name}); move one with .to(backend)`,
      });
    }
  }

  // ---- reading values ----------------------------------------------------------------------------

  /** The elements in row-major order (waits for queued device work). */
  async data(): Promise<AnyTypedArray> {
    const dense = this.isContiguous ? this : this.contiguous();
    try {
      return await dense.backend.read(dense.bufferFor("data"), dense.offset, dense.size);
    } finally {
      if (dense !== this) dense.dispose();
    }
  }

  /** The single element of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw ShapeError.of("item", [this.shape], `item() needs exactly one element, the tensor has ${this.size}`);
    }
    return (await this.data())[0]!;
  }

  /** Nested arrays like PyTorch's tolist(). */
  async toArray(): Promise<unknown> {
    const flat = Array.from(await this.data());
    const nest = (axis: number, start: number): unknown => {
      if (axis === this.rank) return flat[start];
      const step = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis]! }, (_, i) => nest(axis + 1, start + i * step));
    };
    return nest(0, 0);
  }

  /** Copy onto another backend (e.g. CPU ↔ WebGPU); not differentiable. */
  async to(backend: Backend): Promise<Tensor> {
    if (backend === this.backend) return this.retainHandle();
    const values = await this.data();
    const storage = new Storage(backend, backend.allocate(this.dtype, Math.max(1, this.size)));
    backend.upload(storage.buffer, values);
    return new Tensor(storage, this.shape, contiguousStrides(this.shape), 0, this.intRange);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.backend.name}${this.requiresGrad ? ", requiresGrad" : ""})`;
  }

  // ---- autograd ----------------------------------------------------------------------------------

  backward(options?: BackwardOptions): void {
    runBackward(this, options);
  }

  /** Marks a leaf as trainable; returns this. */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** A tensor that shares data but is cut from the graph. */
  detach(): Tensor {
    return this.retainHandle();
  }

  onesLike(): Tensor {
    return fillLike(this, 1);
  }

  zerosLike(): Tensor {
    return fillLike(this, 0);
  }

  // ---- ops (see core/tensor/ops for the math and the backward rules) -----------------------------

  add(b: Tensor | number): Tensor {
    return ew.add(this, b);
  }
  sub(b: Tensor | number): Tensor {
    return ew.sub(this, b);
  }
  mul(b: Tensor | number): Tensor {
    return ew.mul(this, b);
  }
  div(b: Tensor | number): Tensor {
    return ew.div(this, b);
  }
  pow(exponent: number): Tensor {
    return ew.pow(this, exponent);
  }
  neg(): Tensor {
    return ew.neg(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  rsqrt(): Tensor {
    return ew.rsqrt(this);
  }
  square(): Tensor {
    return ew.square(this);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  relu(): Tensor {
    return ew.relu(this);
  }
  gelu(): Tensor {
    return ew.gelu(this);
  }
  /** Exact GELU x·Φ(x) (HF "gelu"); `gelu()` is the tanh approximation (HF "gelu_new"). */
  geluErf(): Tensor {
    return ew.geluErf(this);
  }
  silu(): Tensor {
    return ew.silu(this);
  }
  tanh(): Tensor {
    return ew.tanh(this);
  }
  eq(b: Tensor | number): Tensor {
    return ew.compare("eq", this, b);
  }
  ne(b: Tensor | number): Tensor {
    return ew.compare("ne", this, b);
  }
  lt(b: Tensor | number): Tensor {
    return ew.compare("lt", this, b);
  }
  le(b: Tensor | number): Tensor {
    return ew.compare("le", this, b);
  }
  gt(b: Tensor | number): Tensor {
    return ew.compare("gt", this, b);
  }
  ge(b: Tensor | number): Tensor {
    return ew.compare("ge", this, b);
  }
  /** Where `mask` is nonzero, `value`; elsewhere this. */
  maskedFill(mask: Tensor, value: number): Tensor {
    return ew.maskedFill(this, mask, value);
  }
  sum(axis?: number | readonly number[], options?: red.ReduceOptions): Tensor {
    return red.sum(this, axis, options);
  }
  mean(axis?: number | readonly number[], options?: red.ReduceOptions): Tensor {
    return red.mean(this, axis, options);
  }
  max(axis?: number | readonly number[], options?: red.ReduceOptions): Tensor {
    return red.max(this, axis, options);
  }
  softmax(axis = -1): Tensor {
    return sm.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return sm.logSoftmax(this, axis);
  }
  matmul(b: Tensor): Tensor {
    return mm.matmul(this, b);
  }
  dropout(p: number, options?: drop.DropoutOptions): Tensor {
    return drop.dropout(this, p, options);
  }
  reshape(shape: readonly number[]): Tensor {
    return views.reshape(this, shape);
  }
  permute(axes: readonly number[]): Tensor {
    return views.permute(this, axes);
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return views.transpose(this, axis0, axis1);
  }
  /** `ranges[i]` = [start, end) on axis i (negative values count from the end); missing axes are kept whole. */
  slice(ranges: readonly (readonly [number, number] | null)[]): Tensor {
    return views.slice(this, ranges);
  }
  expand(shape: readonly number[]): Tensor {
    return views.expand(this, shape);
  }
  unsqueeze(axis: number): Tensor {
    return views.unsqueeze(this, axis);
  }
  squeeze(axis?: number): Tensor {
    return views.squeeze(this, axis);
  }
  contiguous(): Tensor {
    return views.contiguous(this);
  }
}

registerTensorCheck((v): v is Tensor => v instanceof Tensor, (t) => t.armFinalizer());
