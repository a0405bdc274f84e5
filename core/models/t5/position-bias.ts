/**
 * T5's relative position buckets (Raffel et al. 2020, §2.1; HF `T5Attention._relative_position_bucket`).
 * Relative position r = key position − query position. Half of the buckets (all of them when causal)
 * hold exact small distances; larger distances share logarithmically wider buckets up to max_distance:
 *
 *   bidirectional: n = buckets/2, offset n when r > 0, d = |r|       causal: n = buckets, d = max(−r, 0)
 *   bucket = offset + (d < n/2 ? d : min(n − 1, n/2 + ⌊log(d/(n/2)) / log(max/(n/2)) · (n − n/2)⌋))
 *
 * The logarithmic part is evaluated in float32, step by step, as PyTorch does for the HF model: at
 * distances where the exact value is an integer (e.g. d = 16 with 32 buckets, max 128) float32 rounding
 * decides the bucket, and matching HF's choice matters more than the exact real-number answer.
 */
const f32 = Math.fround;

export function relativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = numBuckets;
  let bucket = 0;
  let distance: number;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (relativePosition > 0) bucket += buckets;
    distance = Math.abs(relativePosition);
  } else {
    distance = -Math.min(relativePosition, 0);
  }
  const maxExact = Math.floor(buckets / 2);
  if (distance < maxExact) return bucket + distance;
  // float32: log(d / maxExact) / log(maxDistance / maxExact) · (buckets − maxExact), truncated toward 0
  const ratio = f32(f32(Math.log(f32(distance / maxExact))) / f32(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f32(ratio * (buckets - maxExact)));
  return bucket + Math.min(large, buckets - 1);
}

/**
 * Buckets for queries at positions queryOffset … queryOffset+queryLength−1 against keys 0 … keyLength−1:
 * an int32 (queryLength × keyLength) row-major table. A bucket depends only on r = k − q − offset, so it
 * is computed once per relative position; tables are kept for the last few shapes (every training step
 * asks for the same ones). The result is shared: do not modify it.
 */
export function relativePositionBuckets(
  queryLength: number,
  keyLength: number,
  options: { readonly bidirectional: boolean; readonly numBuckets: number; readonly maxDistance: number; readonly queryOffset?: number },
): Int32Array {
  const offset = options.queryOffset ?? 0;
  const key = `${queryLength},${keyLength},${offset},${options.bidirectional},${options.numBuckets},${options.maxDistance}`;
  const cached = tables.get(key);
  if (cached) return cached;
  // r runs from −(queryLength − 1 + offset) (last query, first key) to keyLength − 1 − offset
  const lowest = -(queryLength - 1 + offset);
  const byRelative = new Int32Array(queryLength + keyLength - 1);
  for (let i = 0; i < byRelative.length; i++) {
    byRelative[i] = relativePositionBucket(lowest + i, options.bidirectional, options.numBuckets, options.maxDistance);
  }
  const table = new Int32Array(queryLength * keyLength);
  for (let q = 0; q < queryLength; q++) {
    // r = k − q − offset, at index r − lowest = k + (queryLength − 1 − q)
    const start = queryLength - 1 - q;
    table.set(byRelative.subarray(start, start + keyLength), q * keyLength);
  }
  if (tables.size >= MAX_TABLES) tables.delete(tables.keys().next().value!);
  tables.set(key, table);
  return table;
}

/** Recent bucket tables by shape (greedy decoding asks for one per step: a few dozen small tables). */
const tables = new Map<string, Int32Array>();
const MAX_TABLES = 64;
