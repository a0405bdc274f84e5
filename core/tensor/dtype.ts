/**
 * Element types. `float32` is what models train in; `int32` holds ids and labels; `float64` exists only on
 * backends that declare it (the CPU reference backend), so that every kernel can be checked against a
 * float64 computation of the same code.
 */
export type DType = "float32" | "float64" | "int32";

export type FloatDType = "float32" | "float64";

export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : Int32Array;

export type AnyTypedArray = Float32Array | Float64Array | Int32Array;
export type FloatArray = Float32Array | Float64Array;

export const bytesPerElement: { readonly [D in DType]: number } = {
  float32: 4,
  float64: 8,
  int32: 4,
};

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === "float32" || dtype === "float64";
}

export function newTypedArray(dtype: DType, length: number): AnyTypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int32":
      return new Int32Array(length);
  }
  return dtype satisfies never;
}
