/**
 * A minimal parquet writer for test fixtures in the Hugging Face layout (what `datasets` writes through
 * Arrow: OPTIONAL columns, PLAIN values, data page v1, snappy or no compression, several row groups).
 * Written from the format specification (apache/parquet-format: file layout, Thrift compact protocol,
 * RLE/bit-packed hybrid levels; snappy's framing with literal runs only). Test-only: no nulls, no nesting.
 */

export type ParquetColumnType = "string" | "int32" | "int64" | "float" | "double";

export interface ParquetColumn {
  readonly name: string;
  readonly type: ParquetColumnType;
  readonly values: readonly (string | number)[];
}

export interface ParquetWriteOptions {
  readonly rowGroupSize?: number;
  readonly compression?: "none" | "snappy";
}

// Thrift compact protocol type ids
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

class CompactWriter {
  private readonly out: number[] = [];
  private readonly lastField: number[] = [0];

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
  private varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.out.push(Number(v));
  }
  private zigzag(value: number | bigint): void {
    const v = BigInt(value);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  private header(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1]!;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.out.push((delta << 4) | type);
    else {
      this.out.push(type);
      this.zigzag(id);
    }
    this.lastField[this.lastField.length - 1] = id;
  }
  i32(id: number, value: number): this {
    this.header(id, I32);
    this.zigzag(value);
    return this;
  }
  i64(id: number, value: number): this {
    this.header(id, I64);
    this.zigzag(value);
    return this;
  }
  string(id: number, value: string): this {
    const b = new TextEncoder().encode(value);
    this.header(id, BINARY);
    this.varint(BigInt(b.length));
    this.out.push(...b);
    return this;
  }
  struct(id: number, body: (w: this) => void): this {
    this.header(id, STRUCT);
    this.structBody(body);
    return this;
  }
  private structBody(body: (w: this) => void): void {
    this.lastField.push(0);
    body(this);
    this.out.push(0); // stop
    this.lastField.pop();
  }
  private listHeader(id: number, type: number, size: number): void {
    this.header(id, LIST);
    if (size < 15) this.out.push((size << 4) | type);
    else {
      this.out.push(0xf0 | type);
      this.varint(BigInt(size));
    }
  }
  structList<T>(id: number, items: readonly T[], body: (w: this, item: T) => void): this {
    this.listHeader(id, STRUCT, items.length);
    for (const item of items) this.structBody((w) => body(w, item));
    return this;
  }
  i32List(id: number, items: readonly number[]): this {
    this.listHeader(id, I32, items.length);
    for (const v of items) this.zigzag(v);
    return this;
  }
  stringList(id: number, items: readonly string[]): this {
    this.listHeader(id, BINARY, items.length);
    for (const s of items) {
      const b = new TextEncoder().encode(s);
      this.varint(BigInt(b.length));
      this.out.push(...b);
    }
    return this;
  }
  /** A top-level struct (no field header). */
  root(body: (w: this) => void): Uint8Array {
    this.structBody(body);
    return this.bytes();
  }
}

const PHYSICAL: Record<ParquetColumnType, number> = { string: 6, int32: 1, int64: 2, float: 4, double: 5 };

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function plainValues(type: ParquetColumnType, values: readonly (string | number)[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const v of values) {
    if (type === "string") {
      const b = new TextEncoder().encode(v as string);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, b.length, true);
      parts.push(len, b);
      continue;
    }
    const width = type === "int64" || type === "double" ? 8 : 4;
    const cell = new Uint8Array(width);
    const view = new DataView(cell.buffer);
    if (type === "int32") view.setInt32(0, v as number, true);
    else if (type === "int64") view.setBigInt64(0, BigInt(v as number), true);
    else if (type === "float") view.setFloat32(0, v as number, true);
    else view.setFloat64(0, v as number, true);
    parts.push(cell);
  }
  return concat(parts);
}

/** Definition levels, all 1 (every value present): one RLE run, bit width 1, with its 4-byte length. */
function allPresentLevels(count: number): Uint8Array {
  const run: number[] = [];
  let header = count * 2; // (run length << 1) | 0 = RLE run
  while (header >= 0x80) {
    run.push((header & 0x7f) | 0x80);
    header = Math.floor(header / 128);
  }
  run.push(header, 1);
  const out = new Uint8Array(4 + run.length);
  new DataView(out.buffer).setUint32(0, run.length, true);
  out.set(run, 4);
  return out;
}

/** Snappy framing with literal runs only (valid, just not smaller). */
function snappyLiteral(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let n = data.length;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  for (let at = 0; at < data.length; at += 65536) {
    const chunk = data.subarray(at, Math.min(at + 65536, data.length));
    const m = chunk.length - 1;
    if (m < 60) out.push(m << 2);
    else if (m < 256) out.push(60 << 2, m);
    else out.push(61 << 2, m & 0xff, m >> 8);
    for (const b of chunk) out.push(b);
  }
  return Uint8Array.from(out);
}

export function writeParquet(columns: readonly ParquetColumn[], options: ParquetWriteOptions = {}): Uint8Array {
  const rows = columns[0]?.values.length ?? 0;
  for (const c of columns) if (c.values.length !== rows) throw new Error(`column ${c.name}: ${c.values.length} values, expected ${rows}`);
  const groupSize = Math.max(1, options.rowGroupSize ?? rows);
  const codec = options.compression === "snappy" ? 1 : 0;
  const parts: Uint8Array[] = [new TextEncoder().encode("PAR1")];
  let offset = 4;
  interface ChunkMeta { column: ParquetColumn; offset: number; size: number; rawSize: number; count: number }
  const groups: { rows: number; chunks: ChunkMeta[] }[] = [];
  for (let start = 0; start < rows || (rows === 0 && start === 0); start += groupSize) {
    const count = Math.min(groupSize, rows - start);
    const chunks: ChunkMeta[] = [];
    for (const column of columns) {
      const raw = concat([allPresentLevels(count), plainValues(column.type, column.values.slice(start, start + count))]);
      const body = codec === 1 ? snappyLiteral(raw) : raw;
      const header = new CompactWriter().root((w) =>
        w
          .i32(1, 0) // DATA_PAGE
          .i32(2, raw.length)
          .i32(3, body.length)
          .struct(5, (d) => d.i32(1, count).i32(2, 0).i32(3, 3).i32(4, 3)), // PLAIN values, RLE levels
      );
      chunks.push({ column, offset, size: header.length + body.length, rawSize: header.length + raw.length, count });
      parts.push(header, body);
      offset += header.length + body.length;
    }
    groups.push({ rows: count, chunks });
    if (rows === 0) break;
  }
  const footer = new CompactWriter().root((w) =>
    w
      .i32(1, 1)
      .structList(2, [null, ...columns], (s, c) => {
        if (c === null) s.string(4, "schema").i32(5, columns.length);
        else {
          s.i32(1, PHYSICAL[c.type]).i32(3, 1 /* OPTIONAL */).string(4, c.name);
          if (c.type === "string") s.i32(6, 0 /* UTF8 */);
        }
      })
      .i64(3, rows)
      .structList(4, groups, (g, group) =>
        g
          .structList(1, group.chunks, (cc, chunk) =>
            cc.i64(2, chunk.offset).struct(3, (m) =>
              m
                .i32(1, PHYSICAL[chunk.column.type])
                .i32List(2, [0, 3])
                .stringList(3, [chunk.column.name])
                .i32(4, codec)
                .i64(5, chunk.count)
                .i64(6, chunk.rawSize)
                .i64(7, chunk.size)
                .i64(9, chunk.offset),
            ),
          )
          .i64(2, group.chunks.reduce((n, c) => n + c.rawSize, 0))
          .i64(3, group.rows),
      )
      .string(6, "webpeft test fixture writer"),
  );
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, footer.length, true);
  parts.push(footer, length, new TextEncoder().encode("PAR1"));
  return concat(parts);
}
