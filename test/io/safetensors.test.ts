/**
 * safetensors: bit-exact round trips, half-precision conversions, lazy per-tensor reads, the real tiny
 * T5 checkpoint, sharded checkpoints, atomic writes, and a typed error for every malformed input.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type FileAccess, FileAccessError, FileNotFoundError, type RandomAccessFile } from "../../core/io/files.ts";
import {
  CheckpointError,
  SafetensorsError,
  bf16ArrayToF32,
  f16ArrayToF32,
  f16BitsToF32Bits,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  fromBf16Bits,
  fromF16Bits,
  openCheckpoint,
  openSafetensors,
  toBf16Bits,
  toF16Bits,
  writeSafetensors,
} from "../../core/io/safetensors.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";
import { expectReject, literal, scratchDir, testFiles } from "./helpers.ts";

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const f32FromBits = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

/** A safetensors file from a header (object, or raw JSON text) and `dataBytes` bytes of data. */
function rawSafetensors(header: unknown, dataBytes: number, headerLength?: bigint): Uint8Array {
  const json =
    header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

async function readWhole(fs: FileAccess, path: string): Promise<Uint8Array> {
  const file = await fs.open(path);
  try {
    return await file.read(0, file.size);
  } finally {
    await file.close();
  }
}

/** Wraps a FileAccess so that every byte read through `open` is counted. */
function countingFiles(fs: FileAccess, counter: { bytes: number }): FileAccess {
  return {
    ...fs,
    async open(path: string): Promise<RandomAccessFile> {
      const file = await fs.open(path);
      return {
        path: file.path,
        size: file.size,
        read: (offset, length) => {
          counter.bytes += length;
          return file.read(offset, length);
        },
        close: () => file.close(),
      };
    },
  };
}

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("io: safetensors");
  let dir = "";
  let removeDir = async () => {};
  let fs: FileAccess;
  const path = (name: string) => fs.join(dir, name);
  const put = (name: string, bytes: Uint8Array) => fs.writeAtomic(path(name), [bytes]);

  s.before(async () => {
    fs = await testFiles();
    const scratch = await scratchDir("safetensors");
    dir = scratch.path;
    removeDir = scratch.remove;
  });
  s.after(() => removeDir());

  s("F32 / F16 / BF16 / I32 round trip bit-exactly, with metadata and an aligned layout", async () => {
    const f32 = new Float32Array([0, -0, 1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, Infinity, -Infinity, NaN, Math.PI]);
    new Uint32Array(f32.buffer)[8] = 0x7fa12345; // a NaN with a payload: must survive
    // Exactly representable in the 16-bit format, so the round trip must give the same bits back.
    const halfValues = new Float32Array([0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -24, 2 ** -14, 1000.5, Infinity, -Infinity]);
    const bf16Values = new Float32Array([0, -0, 1, -2, 0.5, 3.3895313892515355e38, -(2 ** -133), 2 ** -126, 1.5 * 2 ** 100, 1000, Infinity, -Infinity]);
    const allHalfBits = new Uint16Array(65536).map((_, i) => i);
    const ints = new Int32Array([0, 1, -1, 2147483647, -2147483648, 123456789]);
    const file = path("roundtrip.safetensors");
    await writeSafetensors(
      fs,
      file,
      {
        "half.from_f32": { dtype: "F16", shape: [3, 4], data: halfValues },
        "f32.values": { dtype: "F32", shape: [2, 5], data: f32 },
        "bf16.from_f32": { dtype: "BF16", shape: [12], data: bf16Values },
        "half.bits": { dtype: "F16", shape: [256, 256], data: allHalfBits },
        "bf16.bits": { dtype: "BF16", shape: [65536], data: allHalfBits },
        "ints": { dtype: "I32", shape: [6], data: ints },
        "empty": { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
      },
      { format: "pt", note: "made by a test" },
    );
    const reader = await openSafetensors(fs, file);
    try {
      assert.equal(reader.metadata, { format: "pt", note: "made by a test" });
      assert.equal(reader.names().sort(), ["bf16.bits", "bf16.from_f32", "empty", "f32.values", "half.bits", "half.from_f32", "ints"]);
      assert.equal(reader.info("f32.values").shape, [2, 5]);
      assert.equal(reader.info("half.bits").dtype, "F16");
      for (const name of reader.names()) {
        const { fileOffset, dtype } = reader.info(name);
        const size = dtype === "F16" || dtype === "BF16" ? 2 : 4;
        assert.is(fileOffset % size, 0, `${name} starts at a multiple of its element size`);
      }
      const headerLength = Number(new DataView((await readWhole(fs, file)).buffer).getBigUint64(0, true));
      assert.is(headerLength % 8, 0, "header padded to a multiple of 8");

      assert.equal(bitsOf(await reader.readF32("f32.values")), bitsOf(f32));
      assert.equal(bitsOf(await reader.readF32("half.from_f32")), bitsOf(halfValues));
      assert.equal(bitsOf(await reader.readF32("bf16.from_f32")), bitsOf(bf16Values));
      assert.equal(Array.from(await reader.readI32("ints")), Array.from(ints));
      assert.is((await reader.readF32("empty")).length, 0);
      // Raw bits come back unchanged, and decode as the conversion functions say.
      const halfBytes = await reader.readBytes("half.bits");
      assert.equal(Array.from(new Uint16Array(halfBytes.buffer)), Array.from(allHalfBits));
      assert.equal(bitsOf(await reader.readF32("half.bits")), Array.from(allHalfBits, f16BitsToF32Bits));
      assert.equal(bitsOf(await reader.readF32("bf16.bits")), Array.from(allHalfBits, (b) => b * 65536));
    } finally {
      await reader.close();
    }
  });

  s("f16 conversion: edge cases, exact round trip of all 65536 values, ties to even", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest finite
      [65519.99, 0x7bff], // below the midpoint to 65536: rounds down
      [65520, 0x7c00], // the midpoint: ties to even = infinity
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: ties to even = 0
      [2 ** -25 * 1.0000001, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 units: ties to even = 2
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the smallest normal
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even is 1+2^-9
      [1e-10, 0x0000],
      [-1e-10, 0x8000],
    ];
    for (const [value, bits] of cases) assert.is(toF16Bits(value), bits, `f16(${value})`);
    assert.ok(Number.isNaN(fromF16Bits(toF16Bits(NaN))));
    assert.is(toF16Bits(NaN) & 0x7c00, 0x7c00);
    assert.ok((toF16Bits(NaN) & 0x3ff) !== 0, "NaN stays NaN");
    assert.is(f32BitsToF16Bits(0xffc00000), 0xfe00, "negative quiet NaN keeps its sign");
    assert.is(fromF16Bits(0x0001), 2 ** -24);
    assert.is(fromF16Bits(0x03ff), 1023 * 2 ** -24);
    assert.is(fromF16Bits(0x7bff), 65504);
    assert.is(fromF16Bits(0xfc00), -Infinity);
    assert.ok(Object.is(fromF16Bits(0x8000), -0));

    // Every non-NaN f16 survives f16 → f32 → f16; between neighbours a and b, the midpoint goes to the
    // even one and the next float32 on either side goes to the nearer one.
    for (let h = 0; h < 0x10000; h++) {
      const exponent = (h >> 10) & 0x1f;
      if (exponent === 0x1f && (h & 0x3ff) !== 0) continue; // NaN
      assert.is(f32BitsToF16Bits(f16BitsToF32Bits(h)), h);
      if ((h & 0x7fff) >= 0x7bff) continue; // no finite neighbour above
      const a = f16BitsToF32Bits(h);
      const b = f16BitsToF32Bits(h + 1);
      const mid = Math.fround((f32FromBits(a) + f32FromBits(b)) / 2); // exact: 13 spare mantissa bits
      const midBits = new Uint32Array(new Float32Array([mid]).buffer)[0]!;
      assert.is(f32BitsToF16Bits(midBits), (h & 1) === 0 ? h : h + 1, `tie between f16 ${h} and ${h + 1}`);
      assert.is(f32BitsToF16Bits(midBits - 1), h);
      assert.is(f32BitsToF16Bits(midBits + 1), h + 1);
    }
    // The array forms agree with the scalar ones and keep NaN payload bits where they fit.
    const values = new Float32Array([0.1, -3.75, 70000, 1e-7, NaN]);
    assert.equal(Array.from(f32ArrayToF16(values)), Array.from(values, toF16Bits));
    assert.equal(bitsOf(f16ArrayToF32(new Uint16Array([0x3c00, 0x7e01]))), [0x3f800000, 0x7fc02000]);
  });

  s("bf16 conversion: edge cases, exact round trip of all 65536 values, ties to even", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3f80],
      [-2, 0xc000],
      [1 + 2 ** -8, 0x3f80], // tie: even (1)
      [1 + 3 * 2 ** -8, 0x3f82], // tie: even (1 + 2^-6)
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [3.3895313892515355e38, 0x7f7f], // largest finite bf16
      [3.4028234663852886e38, 0x7f80], // f32 max rounds up to infinity
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [1.401298464324817e-45, 0x0000], // f32 smallest subnormal: below half a bf16 subnormal unit
      [9.183549615799121e-41, 0x0001], // smallest bf16 subnormal (2^-133)
    ];
    for (const [value, bits] of cases) assert.is(toBf16Bits(value), bits, `bf16(${value})`);
    assert.ok(Number.isNaN(fromBf16Bits(toBf16Bits(NaN))));
    assert.is(f32BitsToBf16Bits(0x7f800001), 0x7fc0, "a NaN whose payload is only in the low bits stays NaN");
    assert.is(f32BitsToBf16Bits(0xff812345), 0xffc1, "sign and high payload kept, quiet bit set");
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0) continue; // NaN
      assert.is(f32BitsToBf16Bits(b << 16 >>> 0), b);
      if ((b & 0x7fff) >= 0x7f7f) continue;
      const mid = ((b << 16) >>> 0) + 0x8000; // the f32 exactly between b and b + 1
      assert.is(f32BitsToBf16Bits(mid), (b & 1) === 0 ? b : b + 1, `tie between bf16 ${b} and ${b + 1}`);
      assert.is(f32BitsToBf16Bits(mid - 1), b);
      assert.is(f32BitsToBf16Bits(mid + 1), b + 1);
    }
    const values = new Float32Array([0.1, -3.75, 1e30, NaN]);
    assert.equal(Array.from(f32ArrayToBf16(values)), Array.from(values, toBf16Bits));
    assert.equal(Array.from(bf16ArrayToF32(new Uint16Array([0x3f80, 0xc000]))), [1, -2]);
  });

  s("the real tiny-random-t5 checkpoint opens: 113 entries, tied names included", async () => {
    const modelDir = fs.join(sharedDataDir(), "tiny-random-t5");
    const checkpoint = await openCheckpoint(fs, modelDir);
    try {
      assert.is(checkpoint.source, fs.join(modelDir, "model.safetensors"));
      const names = checkpoint.names();
      assert.is(names.length, 113);
      for (const tied of ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"]) {
        assert.ok(checkpoint.has(tied), tied);
      }
      assert.equal(checkpoint.info("shared.weight"), { name: "shared.weight", dtype: "F32", shape: [1302, 32] });
      assert.equal(checkpoint.info("encoder.block.0.layer.0.SelfAttention.q.weight").shape, [32, 32]);
      assert.equal(checkpoint.info("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").shape, [8, 4]);
      assert.equal(checkpoint.info("encoder.block.0.layer.1.DenseReluDense.wi.weight").shape, [37, 32]);
      const shared = await checkpoint.readF32("shared.weight");
      assert.is(shared.length, 1302 * 32);
      assert.ok(shared.every(Number.isFinite));
      assert.ok(shared.some((v) => v !== 0));
      assert.equal(bitsOf(await checkpoint.readF32("encoder.embed_tokens.weight")), bitsOf(shared), "tied copies hold the same values");
      await expectReject(checkpoint.readF32("decoder.block.9.layer.0.SelfAttention.q.weight"), CheckpointError, /no tensor "decoder\.block\.9/, literal(checkpoint.source));
      await expectReject(async () => checkpoint.info("lm_head.bias"), CheckpointError, /no tensor "lm_head\.bias"/);
    } finally {
      await checkpoint.close();
    }
  });

  s("reads are lazy: one tensor reads its own bytes and the header, nothing else", async () => {
    const counter = { bytes: 0 };
    const file = fs.join(sharedDataDir(), "tiny-random-t5", "model.safetensors");
    const reader = await openSafetensors(countingFiles(fs, counter), file);
    const afterHeader = counter.bytes;
    await reader.readF32("decoder.final_layer_norm.weight");
    assert.is(counter.bytes - afterHeader, 32 * 4);
    assert.ok(afterHeader < 20_000, `opening read ${afterHeader} bytes (the header), not the 1 MB file`);
    await reader.close();
  });

  s("a sharded checkpoint (index + shards) reads back; a single file wins over an index", async () => {
    const shardDir = path("sharded");
    await fs.mkdirp(shardDir);
    const a = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    const b = Float32Array.from({ length: 6 }, (_, i) => -i);
    const c = Float32Array.from({ length: 4 }, (_, i) => i * 1.5);
    await writeSafetensors(fs, fs.join(shardDir, "model-00001-of-00002.safetensors"), {
      "encoder.a": { dtype: "F32", shape: [3, 4], data: a },
      "encoder.b": { dtype: "BF16", shape: [6], data: b },
    });
    await writeSafetensors(fs, fs.join(shardDir, "model-00002-of-00002.safetensors"), { "decoder.c": { dtype: "F16", shape: [2, 2], data: c } });
    const index = {
      metadata: { total_size: 12 * 4 + 6 * 2 + 4 * 2 },
      weight_map: { "encoder.a": "model-00001-of-00002.safetensors", "encoder.b": "model-00001-of-00002.safetensors", "decoder.c": "model-00002-of-00002.safetensors" },
    };
    await fs.writeAtomic(fs.join(shardDir, "model.safetensors.index.json"), [new TextEncoder().encode(JSON.stringify(index))]);
    const checkpoint = await openCheckpoint(fs, shardDir);
    try {
      assert.is(checkpoint.source, fs.join(shardDir, "model.safetensors.index.json"));
      assert.equal(checkpoint.names().sort(), ["decoder.c", "encoder.a", "encoder.b"]);
      assert.equal(checkpoint.info("encoder.b"), { name: "encoder.b", dtype: "BF16", shape: [6] });
      assert.equal(Array.from(await checkpoint.readF32("encoder.a")), Array.from(a));
      assert.equal(Array.from(await checkpoint.readF32("encoder.b")), Array.from(b));
      assert.equal(Array.from(await checkpoint.readF32("decoder.c")), Array.from(c));
      // Concurrent reads from several shards and tensors.
      const all = await Promise.all(["decoder.c", "encoder.a", "encoder.b", "encoder.a"].map((n) => checkpoint.readF32(n)));
      assert.equal(all.map((x) => x.length), [4, 12, 6, 12]);
      await expectReject(checkpoint.readF32("encoder.z"), CheckpointError, /no tensor "encoder\.z"/, /model\.safetensors\.index\.json/);
    } finally {
      await checkpoint.close();
    }
    await writeSafetensors(fs, fs.join(shardDir, "model.safetensors"), { only: { dtype: "F32", shape: [1], data: new Float32Array([7]) } });
    const single = await openCheckpoint(fs, shardDir);
    assert.equal(single.names(), ["only"]);
    await single.close();
  });

  s("sharded checkpoint errors: missing shard, tensor not in its shard, bad index", async () => {
    const shardDir = path("bad-shards");
    await fs.mkdirp(shardDir);
    await writeSafetensors(fs, fs.join(shardDir, "part-1.safetensors"), { x: { dtype: "F32", shape: [1], data: new Float32Array([1]) } });
    const writeIndex = (weightMap: unknown) =>
      fs.writeAtomic(fs.join(shardDir, "model.safetensors.index.json"), [new TextEncoder().encode(JSON.stringify({ weight_map: weightMap }))]);
    await writeIndex({ x: "part-1.safetensors", y: "part-2.safetensors" });
    await expectReject(openCheckpoint(fs, shardDir), CheckpointError, /shard "part-2\.safetensors"/, /tensor "y"/, /missing/, /index\.json/);
    await writeIndex({ x: "part-1.safetensors", y: "part-1.safetensors" });
    await expectReject(openCheckpoint(fs, shardDir), CheckpointError, /tensor "y" in shard "part-1\.safetensors", which does not hold it/);
    await writeIndex({ x: "../elsewhere.safetensors" });
    await expectReject(openCheckpoint(fs, shardDir), CheckpointError, /weight_map\["x"\] must be a file name/);
    await writeIndex(["not", "an", "object"]);
    await expectReject(openCheckpoint(fs, shardDir), CheckpointError, /"weight_map" object/);
    await fs.writeAtomic(fs.join(shardDir, "model.safetensors.index.json"), [new TextEncoder().encode("{ not json")]);
    await expectReject(openCheckpoint(fs, shardDir), CheckpointError, /not valid JSON/, /index\.json/);

    const empty = path("no-weights");
    await fs.mkdirp(empty);
    await expectReject(openCheckpoint(fs, empty), CheckpointError, /no model\.safetensors and no model\.safetensors\.index\.json/, literal(empty));
    await put("no-weights/pytorch_model.bin", new Uint8Array([0x50, 0x4b, 3, 4]));
    await expectReject(openCheckpoint(fs, empty), CheckpointError, /pytorch_model\.bin, a PyTorch pickle/);
    await expectReject(openCheckpoint(fs, path("does-not-exist")), CheckpointError, /no such file or directory/);
  });

  s("every malformed file gets a SafetensorsError naming the file, the tensor and the problem", async () => {
    const entry = { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] };
    const cases: [string, Uint8Array, RegExp[]][] = [
      ["truncated.safetensors", new Uint8Array([1, 0, 0]), [/truncated file: 3 bytes, less than the 8-byte header length/]],
      ["empty.safetensors", new Uint8Array(0), [/truncated file: 0 bytes/]],
      ["long-header.safetensors", rawSafetensors({ w: entry }, 16, 1_000_000n), [/header length 1000000 \(bytes 0-7\) is larger than the \d+ bytes after it/]],
      ["huge-header.safetensors", rawSafetensors({ w: entry }, 16, 2n ** 63n), [/header length 9223372036854775808/]],
      ["bad-json.safetensors", rawSafetensors('{"w": {"dtype": "F32",', 16), [/header \(bytes 8 to 30\) is not valid JSON/]],
      ["array-header.safetensors", rawSafetensors([1, 2], 0), [/header must be a JSON object, got \[1,2\]/]],
      ["bad-utf8.safetensors", rawSafetensors(new Uint8Array([0x7b, 0xff, 0x7d]), 0), [/header \(bytes 8 to 11\) is not valid UTF-8/]],
      ["unknown-dtype.safetensors", rawSafetensors({ w: { ...entry, dtype: "F12" } }, 16), [/tensor "w": unknown dtype "F12"/]],
      ["missing-dtype.safetensors", rawSafetensors({ w: { shape: [1], data_offsets: [0, 4] } }, 4), [/tensor "w": unknown dtype undefined/]],
      ["length-mismatch.safetensors", rawSafetensors({ w: { ...entry, shape: [3, 2] } }, 16), [/tensor "w": byte length 16 \(data_offsets \[0, 16\]\) does not match dtype F32 × shape \[3, 2\] = 24 bytes/]],
      ["f16-mismatch.safetensors", rawSafetensors({ w: { ...entry, dtype: "F16" } }, 16), [/tensor "w": byte length 16 .* dtype F16 × shape \[2, 2\] = 8 bytes/]],
      ["negative-shape.safetensors", rawSafetensors({ w: { ...entry, shape: [-2, -2] } }, 16), [/tensor "w": shape \[-2,-2\]: dimension 0 is -2, not a non-negative integer/]],
      ["fraction-shape.safetensors", rawSafetensors({ w: { ...entry, shape: [2, 1.5] } }, 16), [/dimension 1 is 1\.5/]],
      ["string-shape.safetensors", rawSafetensors({ w: { ...entry, shape: "2x2" } }, 16), [/tensor "w": shape must be an array/]],
      ["outside.safetensors", rawSafetensors({ w: { ...entry, data_offsets: [8, 24] } }, 16), [/tensor "w": data_offsets \[8, 24\] lie outside the data region, which holds 16 bytes/]],
      ["cut-data.safetensors", rawSafetensors({ w: entry }, 10), [/tensor "w": data_offsets \[0, 16\] lie outside the data region, which holds 10 bytes/]],
      ["reversed.safetensors", rawSafetensors({ w: { ...entry, data_offsets: [16, 0] } }, 16), [/tensor "w": data_offsets \[16,0\] must be integers with 0 <= begin <= end/]],
      ["three-offsets.safetensors", rawSafetensors({ w: { ...entry, data_offsets: [0, 8, 16] } }, 16), [/data_offsets must be \[begin, end\]/]],
      [
        "overlap.safetensors",
        rawSafetensors({ a: entry, b: { dtype: "F32", shape: [2], data_offsets: [12, 20] } }, 20),
        [/tensor "b": data_offsets \[12, 20\] overlap those of tensor "a" \[0, 16\]/],
      ],
      ["bad-metadata.safetensors", rawSafetensors({ __metadata__: { epoch: 3 }, w: entry }, 16), [/__metadata__ value "epoch" must be a string/]],
    ];
    for (const [name, bytes, patterns] of cases) {
      await put(name, bytes);
      await expectReject(openSafetensors(fs, path(name)), SafetensorsError, literal(path(name)), ...patterns);
    }
    await put("capped.safetensors", rawSafetensors({ w: entry }, 16));
    await expectReject(openSafetensors(fs, path("capped.safetensors"), { maxHeaderBytes: 16 }), SafetensorsError, /exceeds the 16-byte cap/);
    await expectReject(openSafetensors(fs, path("no-such.safetensors")), Error, /no-such\.safetensors/);

    // A valid file: reading the wrong way, or a tensor it lacks.
    const ok = path("ok.safetensors");
    await writeSafetensors(fs, ok, { ints: { dtype: "I32", shape: [2], data: new Int32Array([1, 2]) } });
    const reader = await openSafetensors(fs, ok);
    await expectReject(reader.readF32("ints"), SafetensorsError, literal(ok), /tensor "ints": dtype I32 cannot be read as float32/);
    await expectReject(reader.readF32("nope"), SafetensorsError, /tensor "nope": no such tensor/);
    await reader.close();
  });

  s("I64 tensors read as int32 when every value fits, and name the element that does not", async () => {
    const values = [0n, 1n, -1n, 2147483647n, -2147483648n];
    const data = new Uint8Array(values.length * 8);
    values.forEach((v, i) => new DataView(data.buffer).setBigInt64(8 * i, v, true));
    const header = { ids: { dtype: "I64", shape: [5], data_offsets: [0, 40] }, big: { dtype: "I64", shape: [2], data_offsets: [40, 56] } };
    const file = rawSafetensors(header, 56);
    const headerLength = file.byteLength - 56;
    file.set(data, headerLength);
    new DataView(file.buffer).setBigInt64(headerLength + 40, 7n, true);
    new DataView(file.buffer).setBigInt64(headerLength + 48, 2147483648n, true);
    await put("i64.safetensors", file);
    const reader = await openSafetensors(fs, path("i64.safetensors"));
    assert.equal(Array.from(await reader.readI32("ids")), [0, 1, -1, 2147483647, -2147483648]);
    await expectReject(reader.readI32("big"), SafetensorsError, /tensor "big": I64 element 1 = 2147483648 does not fit in int32/);
    await reader.close();
  });

  s("the writer refuses inconsistent tensors with a SafetensorsError", async () => {
    const file = path("refused.safetensors");
    await expectReject(
      writeSafetensors(fs, file, { w: { dtype: "F32", shape: [2, 3], data: new Float32Array(5) } }),
      SafetensorsError,
      literal(file),
      /tensor "w": shape \[2, 3\] has 6 elements but the data has 5/,
    );
    await expectReject(writeSafetensors(fs, file, { w: { dtype: "I32", shape: [2], data: new Float32Array(2) } }), SafetensorsError, /dtype I32 cannot be written from a Float32Array/);
    await expectReject(writeSafetensors(fs, file, { w: { dtype: "F32", shape: [-1], data: new Float32Array(0) } }), SafetensorsError, /non-negative integers/);
    await expectReject(writeSafetensors(fs, file, { __metadata__: { dtype: "F32", shape: [0], data: new Float32Array(0) } }), SafetensorsError, /not a valid tensor name/);
    assert.not.ok(await fs.exists(file), "nothing written");
  });

  s("atomic writes: a failing write leaves the previous file intact and no temporary file", async () => {
    const file = path("atomic/model.safetensors");
    await fs.mkdirp(path("atomic"));
    const old = new Float32Array([1, 2, 3]);
    await writeSafetensors(fs, file, { w: { dtype: "F32", shape: [3], data: old } });
    const before = await readWhole(fs, file);

    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000).fill(7);
      throw new Error("disk on fire");
    }
    await expectReject(fs.writeAtomic(file, failing()), Error, /disk on fire/);
    const after = await readWhole(fs, file);
    assert.equal(Array.from(after), Array.from(before));
    const reader = await openSafetensors(fs, file);
    assert.equal(Array.from(await reader.readF32("w")), [1, 2, 3]);
    await reader.close();
    const { readdir } = await import("node:fs/promises");
    assert.equal(await readdir(path("atomic")), ["model.safetensors"], "the temporary file is gone");

    // A successful rewrite replaces the file as a whole.
    await writeSafetensors(fs, file, { w: { dtype: "F32", shape: [1], data: new Float32Array([9]) } });
    const replaced = await openSafetensors(fs, file);
    assert.equal(Array.from(await replaced.readF32("w")), [9]);
    await replaced.close();
  });

  s("the host FileAccess: typed errors for missing files and short reads, BOM-free text, append, rename", async () => {
    await expectReject(fs.open(path("missing.bin")), FileNotFoundError, literal(path("missing.bin")));
    await expectReject(fs.readText(path("missing.txt")), FileNotFoundError, /file not found/);
    await expectReject(fs.writeAtomic(path("no-dir/x.bin"), [new Uint8Array(1)]), FileNotFoundError, /directory not found/, literal(path("no-dir")));
    await expectReject(fs.open(dir), FileAccessError, /it is a directory/);
    await put("bom.json", new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]));
    assert.is(await fs.readText(path("bom.json")), "{}");
    const file = await fs.open(path("bom.json"));
    assert.is(file.size, 5);
    assert.equal(Array.from(await file.read(3, 2)), [0x7b, 0x7d]);
    assert.equal(Array.from(await file.read(5, 0)), []);
    await expectReject(file.read(3, 10), FileAccessError, /the file ends after 5 bytes/);
    await file.close();
    const appended = await fs.openAppend(path("log.bin"));
    await appended.write(new Uint8Array([1, 2]));
    await appended.write(new Uint8Array([3]));
    await appended.close();
    const again = await fs.openAppend(path("log.bin"));
    await again.write(new Uint8Array([4]));
    await again.close();
    assert.equal(Array.from(await readWhole(fs, path("log.bin"))), [1, 2, 3, 4]);
    await fs.rename(path("log.bin"), path("moved.bin"));
    assert.equal([await fs.exists(path("log.bin")), (await fs.stat(path("moved.bin")))?.size], [false, 4]);
    assert.equal(await fs.stat(path("nothing")), null);
    assert.is((await fs.stat(dir))?.isDirectory, true);
    await fs.remove(path("moved.bin"));
    await fs.remove(path("moved.bin")); // missing: not an error
    assert.not.ok(await fs.exists(path("moved.bin")));
    await fs.mkdirp(path("a/b/c"));
    await fs.mkdirp(path("a/b/c"));
    assert.ok((await fs.stat(fs.join(dir, "a", "b", "c")))?.isDirectory);
    assert.is(fs.join("x", "y/", "z.json"), ["x", "y", "z.json"].join("/"));
  });

  s.run();
}
