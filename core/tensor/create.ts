/**
 * Creating tensors: from host data, constants, and seeded random values. Every function takes an options
 * object with `backend` (default: the default backend, see setDefaultBackend), `dtype` and `requiresGrad`.
 */
import type { Backend } from "../backend/backend.ts";
import { createCpuBackend } from "../backend/cpu/cpu-backend.ts";
import { DTypeError, InvalidArgumentError, ShapeError } from "../errors.ts";
import { type AnyTypedArray, type DType, newTypedArray } from "./dtype.ts";
import { full as fullOn } from "./ops/fill.ts";
import { Generator, globalGenerator } from "./random.ts";
import { type Shape, checkShape, contiguousStrides, formatShape, sizeOf } from "./shape.ts";
import { Storage, Tensor } from "./tensor.ts";

let defaultBackendValue: Backend | null = null;

/** The backend used when an options object names none (a float32 CPU backend until set). */
export function defaultBackend(): Backend {
  return (defaultBackendValue ??= createCpuBackend());
}

export function setDefaultBackend(backend: Backend): void {
  defaultBackendValue = backend;
}

export interface CreateOptions {
  readonly backend?: Backend;
  readonly dtype?: DType;
  readonly requiresGrad?: boolean;
}

export interface TensorOptions extends CreateOptions {
  /** Shape of flat data (default: inferred from nesting, or [data.length]). */
  readonly shape?: Shape;
}

export type NestedNumbers = number | readonly NestedNumbers[];

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let level: NestedNumbers = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = (level as readonly NestedNumbers[])[0] ?? 0;
  }
  return shape;
}

function flatten(data: NestedNumbers, shape: Shape, out: number[], axis = 0): void {
  if (axis === shape.length) {
    if (typeof data !== "number") throw ShapeError.of("tensor", [shape], "nested arrays are ragged (a number was expected)");
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[axis]) {
    throw ShapeError.of("tensor", [shape], `nested arrays are ragged at depth ${axis}`);
  }
  for (const v of data as readonly NestedNumbers[]) flatten(v, shape, out, axis + 1);
}

function dtypeOf(data: unknown, requested: DType | undefined): DType {
  if (requested) return requested;
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Float64Array) return "float64";
  return "float32";
}

/** A tensor holding `data` (nested arrays, or a flat array / typed array with `shape`). */
export function tensor(data: NestedNumbers | AnyTypedArray | readonly number[], options: TensorOptions = {}): Tensor {
  const backend = options.backend ?? defaultBackend();
  const dtype = dtypeOf(data, options.dtype);
  let flat: ArrayLike<number>;
  let shape: Shape;
  if (ArrayBuffer.isView(data)) {
    flat = data;
    shape = options.shape ?? [data.length];
  } else if (options.shape) {
    const values: number[] = [];
    const nested = inferShape(data as NestedNumbers);
    flatten(data as NestedNumbers, nested, values);
    flat = values;
    shape = options.shape;
  } else {
    shape = inferShape(data as NestedNumbers);
    const values: number[] = [];
    flatten(data as NestedNumbers, shape, values);
    flat = values;
  }
  checkShape("tensor", shape);
  if (sizeOf(shape) !== flat.length) {
    throw ShapeError.of("tensor", [shape], `${flat.length} values do not fill shape ${formatShape(shape)}`);
  }
  const typed = newTypedArray(dtype, flat.length);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i]!;
    if (dtype === "int32") {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
        throw InvalidArgumentError.of("tensor", `element ${i}`, `${v} is not a 32-bit integer (dtype int32)`);
      }
      if (v < min) min = v;
      if (v > max) max = v;
    }
    typed[i] = v;
  }
  return fromTypedArray(backend, typed, shape, dtype === "int32" && flat.length > 0 ? { min, max } : undefined, options.requiresGrad);
}

function fromTypedArray(backend: Backend, typed: AnyTypedArray, shape: Shape, intRange: { min: number; max: number } | undefined, requiresGrad = false): Tensor {
  const dtype: DType = typed instanceof Int32Array ? "int32" : typed instanceof Float64Array ? "float64" : "float32";
  const storage = new Storage(backend, backend.allocate(dtype, Math.max(1, typed.length)));
  backend.upload(storage.buffer, typed);
  const t = new Tensor(storage, shape, contiguousStrides(shape), 0, intRange);
  if (requiresGrad) {
    if (dtype === "int32") throw DTypeError.of("requiresGrad", "a float dtype", dtype);
    t.requiresGrad = true;
  }
  return t;
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape("full", shape);
  const t = fullOn(options.backend ?? defaultBackend(), shape, value, options.dtype ?? "float32");
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** A 0-d tensor. */
export function scalar(value: number, options: CreateOptions = {}): Tensor {
  return full([], value, options);
}

export interface RandomOptions extends CreateOptions {
  /** Seed for reproducible values; default: the global generator (manualSeed). */
  readonly seed?: number;
}

function randomTensor(shape: Shape, options: RandomOptions, draw: (g: Generator) => number): Tensor {
  checkShape("random", shape);
  const dtype = options.dtype ?? "float32";
  if (dtype === "int32") throw DTypeError.of("random", "a float dtype", dtype);
  const gen = options.seed === undefined ? globalGenerator() : new Generator(options.seed);
  const values = newTypedArray(dtype, sizeOf(shape));
  for (let i = 0; i < values.length; i++) values[i] = draw(gen);
  return fromTypedArray(options.backend ?? defaultBackend(), values, shape, undefined, options.requiresGrad);
}

/** Standard normal values (times `std`, default 1). */
export function randn(shape: Shape, options: RandomOptions & { readonly std?: number } = {}): Tensor {
  const std = options.std ?? 1;
  return randomTensor(shape, options, (g) => g.normal() * std);
}

/** Uniform values in [low, high) (default [0, 1)). */
export function rand(shape: Shape, options: RandomOptions & { readonly low?: number; readonly high?: number } = {}): Tensor {
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  return randomTensor(shape, options, (g) => low + (high - low) * g.uniform());
}

/** 0, 1, …, n−1. */
export function arange(n: number, options: CreateOptions = {}): Tensor {
  return tensor(Array.from({ length: n }, (_, i) => i), { ...options, shape: [n] });
}
