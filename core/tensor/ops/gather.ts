/**
 * gather (embedding lookup / index_select on axis 0): table (V, …rest), ids int32 (…) → (…ids, …rest),
 *   out[n, j] = table[ids[n], j]
 * Backward is a scatter-add into a zeroed (V, …rest) gradient:
 *   dtable[v, j] = Σ_{n : ids[n] = v} g[n, j]
 * On WebGPU the adds are atomic compare-and-swap loops on the f32 bits (WGSL has no float atomics), so
 * the summation order of repeated ids is not fixed: results agree with the CPU up to rounding.
 * Ids outside [0, V) read as 0 and scatter nothing; when ids came from host data they are checked eagerly.
 */
import { type GpuLaunch, type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError, IndexOutOfRangeError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import { fillKernel } from "./fill.ts";
import { contiguous } from "./views.ts";

interface GatherParams {
  readonly count: number; // number of ids
  readonly rowSize: number; // D = prod(rest)
  readonly vocab: number; // V
  readonly tableOffset: number;
  readonly idsOffset: number;
  readonly gradOffset: number;
}

const layout = new ParamLayout([["count", "u32"], ["D", "u32"], ["V", "u32"], ["toff", "u32"], ["ioff", "u32"], ["goff", "u32"]] as const);
const WG = 64;

/**
 * Both kernels run one invocation per (id n, element j of its row): binding 1 holds the ids, `decls`
 * adds bindings 0 and 2, and `body` sees i = n·D + j, n, j and id = ids[n].
 */
function rowLaunch(key: string, p: GatherParams, decls: string, body: string): GpuLaunch {
  return {
    key,
    source: () => `
${decls}
${storage(1, "IDS", "i32", "read")}
${uniformParams(3, layout)}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let i = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (i >= P.count * P.D) { return; }
  let n = i / P.D;
  let j = i % P.D;
  let id = IDS[P.ioff + n];
  ${body}
}`,
    uniforms: layout.pack({ count: p.count, D: p.rowSize, V: p.vocab, toff: p.tableOffset, ioff: p.idsOffset, goff: p.gradOffset }),
    workgroups: spreadWorkgroups(Math.ceil((p.count * p.rowSize) / WG)),
  };
}

export const gatherKernel: Kernel<GatherParams> = {
  name: "gather",
  cpu([table, ids, out], p) {
    const D = p.rowSize;
    for (let n = 0; n < p.count; n++) {
      const id = ids![p.idsOffset + n]!;
      const ok = id >= 0 && id < p.vocab;
      for (let j = 0; j < D; j++) out![n * D + j] = ok ? table![p.tableOffset + id * D + j]! : 0;
    }
  },
  gpu: (p) =>
    rowLaunch("gather", p, `${storage(0, "T", "f32", "read")}
${storage(2, "OUT", "f32", "read_write")}`, `var v: f32 = 0.0;
  if (id >= 0 && u32(id) < P.V) { v = T[P.toff + u32(id) * P.D + j]; }
  OUT[i] = v;`),
};

/** dtable[ids[n], j] += g[n, j]; dtable must be zeroed first. */
export const scatterAddKernel: Kernel<GatherParams> = {
  name: "scatterAdd",
  cpu([g, ids, dtable], p) {
    const D = p.rowSize;
    for (let n = 0; n < p.count; n++) {
      const id = ids![p.idsOffset + n]!;
      if (id < 0 || id >= p.vocab) continue;
      for (let j = 0; j < D; j++) dtable![id * D + j]! += g![p.gradOffset + n * D + j]!;
    }
  },
  gpu: (p) =>
    rowLaunch("scatterAdd", p, `${storage(0, "G", "f32", "read")}
${storage(2, "DT", "atomic<u32>", "read_write")}
fn atomic_add_f32(index: u32, value: f32) {
  var old = atomicLoad(&DT[index]);
  loop {
    let swapped = atomicCompareExchangeWeak(&DT[index], old, bitcast<u32>(bitcast<f32>(old) + value));
    if (swapped.exchanged) { break; }
    old = swapped.old_value;
  }
}`, `if (id < 0 || u32(id) >= P.V) { return; }
  atomic_add_f32(u32(id) * P.D + j, G[P.goff + i]);`),
};

/** Throws when host-known ids fall outside [0, size). */
export function checkIds(op: string, ids: Tensor, size: number, allowed?: number): void {
  const r = ids.intRange;
  if (!r) return;
  if (r.max >= size) {
    throw new IndexOutOfRangeError({ op, index: r.max, size, message: `${op}: index ${r.max} is out of range for size ${size}` });
  }
  if (r.min < 0 && r.min !== allowed) {
    throw new IndexOutOfRangeError({ op, index: r.min, size, message: `${op}: index ${r.min} is negative${allowed !== undefined ? ` (only ${allowed} is allowed, as the ignore index)` : ""}` });
  }
}

/** Rows of `table` selected by `ids`. Gradient flows to the table only. */
export function gather(table: Tensor, ids: Tensor): Tensor {
  table.sameBackend("gather", ids);
  if (ids.dtype !== "int32") throw DTypeError.of("gather (ids)", "int32", ids.dtype);
  if (!isFloat(table.dtype)) throw DTypeError.of("gather (table)", "float32", table.dtype);
  if (table.rank < 1) throw ShapeError.of("gather", [table.shape, ids.shape], "the table needs at least one axis");
  const vocab = table.shape[0]!;
  checkIds("gather", ids, vocab);
  const rest = table.shape.slice(1);
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const tc = contiguous(table);
  const ic = contiguous(ids);
  const out = Tensor.empty(table.backend, [...ids.shape, ...rest], table.dtype);
  const params = { count: ids.size, rowSize, vocab, tableOffset: tc.offset, idsOffset: ic.offset, gradOffset: 0 };
  table.backend.dispatch(gatherKernel, params, [tc.bufferFor("gather"), ic.bufferFor("gather"), out.bufferFor("gather")]);
  const result = record(
    "gather",
    out,
    [tc, ic],
    (g, [sids]) => {
      const gc = contiguous(g);
      const dtable = Tensor.empty(g.backend, tc.shape, g.dtype);
      g.backend.dispatch(fillKernel, { n: dtable.size, offset: 0, value: 0, dtype: g.dtype }, [dtable.bufferFor("gather")]);
      g.backend.dispatch(scatterAddKernel, { ...params, idsOffset: sids!.offset, gradOffset: gc.offset }, [gc.bufferFor("gather"), sids!.bufferFor("gather"), dtable.bufferFor("gather")]);
      return [dtable, null];
    },
    [ic],
  );
  if (tc !== table) tc.dispose();
  if (ic !== ids) ic.dispose();
  return result;
}
