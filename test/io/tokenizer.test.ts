/**
 * T5 tokenizer: both tokenizer.json dialects give SentencePiece's ids (golden ids made by
 * scripts/goldens/tokenizer_ids.py from spiece.model) on real GLUE sentences, read here from the shared
 * data folder, and on made-up edge cases; truncation, padding, decoding, the tiny checkpoint's tokenizer,
 * and typed errors.
 */
import { readFile } from "node:fs/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileAccess } from "../../core/io/files.ts";
import { type T5Tokenizer, TokenizerError, loadTokenizer } from "../../core/io/tokenizer.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";
import { expectReject, literal, scratchDir, testFiles } from "./helpers.ts";

interface Golden {
  readonly model_sha256: string;
  readonly sentences: readonly { readonly file: string; readonly row: number; readonly column: number; readonly ids: readonly number[] }[];
  readonly synthetic: readonly { readonly text: string; readonly ids: readonly number[] }[];
}

const DIALECTS = ["t5-base_via-dept", "t5-v1_1-xxl_via-sd3"] as const;

/** Lines of a GLUE file as the golden script reads them: UTF-8 with the BOM kept, split on "\n". */
async function glueLines(path: string): Promise<string[]> {
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(await readFile(path));
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("io: tokenizer");
  let fs: FileAccess;
  let golden: Golden;
  const tokenizers = new Map<string, T5Tokenizer>();
  let dir = "";
  let removeDir = async () => {};

  s.before(async () => {
    fs = await testFiles();
    golden = JSON.parse(await readFile(new URL("../goldens/tokenizer-ids.json", import.meta.url), "utf8")) as Golden;
    for (const dialect of DIALECTS) tokenizers.set(dialect, await loadTokenizer(fs, fs.join(sharedDataDir(), "t5-tokenizer", dialect)));
    const scratch = await scratchDir("tokenizer");
    dir = scratch.path;
    removeDir = scratch.remove;
  });
  s.after(() => removeDir());

  s("both tokenizer.json dialects give SentencePiece's ids on every golden GLUE sentence", async () => {
    assert.ok(golden.sentences.length >= 300, `${golden.sentences.length} golden sentences`);
    const files = new Map<string, string[]>();
    for (const { file } of golden.sentences) if (!files.has(file)) files.set(file, await glueLines(fs.join(sharedDataDir(), file)));
    assert.ok(files.size >= 7, "several GLUE tasks");
    for (const dialect of DIALECTS) {
      const tokenizer = tokenizers.get(dialect)!;
      const mismatches: string[] = [];
      for (const { file, row, column, ids } of golden.sentences) {
        const text = files.get(file)![row]!.split("\t")[column];
        assert.type(text, "string", `${file} row ${row} column ${column} exists`);
        const actual = tokenizer.encode(text!);
        if (JSON.stringify(actual) !== JSON.stringify(ids)) {
          mismatches.push(`${file} row ${row} column ${column}: expected ${JSON.stringify(ids)}, got ${JSON.stringify(actual)}`);
        }
      }
      assert.equal(mismatches, [], `${dialect}: ${mismatches.length} of ${golden.sentences.length} differ from SentencePiece`);
    }
  });

  s("both dialects give SentencePiece's ids on whitespace, NFKC, unknown characters and score ties", () => {
    for (const dialect of DIALECTS) {
      const tokenizer = tokenizers.get(dialect)!;
      for (const { text, ids } of golden.synthetic) assert.equal(tokenizer.encode(text), [...ids], `${dialect}: ${JSON.stringify(text)}`);
    }
  });

  s("special ids, added tokens, truncation that keeps </s>, batches padded with padId", () => {
    const tokenizer = tokenizers.get("t5-base_via-dept")!;
    assert.equal([tokenizer.padId, tokenizer.eosId, tokenizer.unkId, tokenizer.vocabSize], [0, 1, 2, 32100]);
    // Added tokens are matched as HF does (raw SentencePiece would spell "<extra_id_0>" out).
    assert.equal(tokenizer.encode("<extra_id_0> hi"), [32099, 7102, 1]);
    assert.equal(tokenizers.get("t5-v1_1-xxl_via-sd3")!.encode("<extra_id_0> hi"), [32099, 7102, 1]);

    const text = "The quick brown fox jumps over the lazy dog.";
    const full = tokenizer.encode(text);
    assert.ok(full.length > 6);
    assert.equal(tokenizer.encode(text, { maxLength: 5 }), [...full.slice(0, 4), 1]);
    assert.equal(tokenizer.encode(text, { maxLength: 1 }), [1]);
    assert.equal(tokenizer.encode(text, { maxLength: full.length }), full);
    assert.equal(tokenizer.encode(text, { maxLength: 1000 }), full);
    assert.throws(() => tokenizer.encode(text, { maxLength: 0 }), (e: unknown) => e instanceof TokenizerError && /maxLength must be a positive integer, got 0/.test((e as Error).message));

    const short = tokenizer.encode("Hi.");
    const batch = tokenizer.encodeBatch([text, "Hi."]);
    assert.equal(batch.inputIds, [full, [...short, ...new Array<number>(full.length - short.length).fill(0)]]);
    assert.equal(batch.attentionMask, [full.map(() => 1), [...short.map(() => 1), ...new Array<number>(full.length - short.length).fill(0)]]);
    const fixed = tokenizer.encodeBatch([text, "Hi."], { padTo: 6 });
    assert.equal(fixed.inputIds, [[...full.slice(0, 5), 1], [...short, ...new Array<number>(6 - short.length).fill(0)]]);
    assert.equal(fixed.attentionMask[1], [...short.map(() => 1), ...new Array<number>(6 - short.length).fill(0)]);
    assert.equal(tokenizer.encodeBatch([text], { maxLength: 4 }).inputIds, [[...full.slice(0, 3), 1]]);
    assert.equal(tokenizer.encodeBatch([]), { inputIds: [], attentionMask: [] });
    assert.throws(() => tokenizer.encodeBatch([text], { padTo: -1 }), (e: unknown) => e instanceof TokenizerError);
  });

  s("decode inverts encode on plain text; special tokens are kept or skipped", () => {
    for (const dialect of DIALECTS) {
      const tokenizer = tokenizers.get(dialect)!;
      const text = "Hello world, this is T5.";
      const ids = tokenizer.encode(text);
      assert.is(tokenizer.decode(ids, { skipSpecialTokens: true }), text);
      assert.is(tokenizer.decode(ids), `${text}</s>`);
      assert.is(tokenizer.decode([0, ...ids, 0], { skipSpecialTokens: true }), text);
    }
  });

  s("the real tiny-random-t5 tokenizer (1302 pieces) loads from its directory or its file", async () => {
    const modelDir = fs.join(sharedDataDir(), "tiny-random-t5");
    for (const path of [modelDir, fs.join(modelDir, "tokenizer.json")]) {
      const tokenizer = await loadTokenizer(fs, path);
      assert.equal([tokenizer.padId, tokenizer.eosId, tokenizer.unkId, tokenizer.vocabSize], [0, 1, 2, 1302]);
      const ids = tokenizer.encode("A small model reads a short sentence.");
      assert.is(ids[ids.length - 1], 1);
      assert.ok(ids.length > 3);
      assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 1302));
      assert.is(tokenizer.decode(tokenizer.encode("the model"), { skipSpecialTokens: true }), "the model");
    }
  });

  s("unusable tokenizer files get a TokenizerError naming the file", async () => {
    const write = (name: string, text: string) => fs.writeAtomic(fs.join(dir, name), [new TextEncoder().encode(text)]);
    await fs.mkdirp(fs.join(dir, "spiece-only"));
    await write("spiece-only/spiece.model", "not really");
    await expectReject(loadTokenizer(fs, fs.join(dir, "spiece-only")), TokenizerError, literal(fs.join(dir, "spiece-only", "tokenizer.json")), /not found; the directory has only spiece\.model/);
    await write("broken.json", "{ \"model\": ");
    await expectReject(loadTokenizer(fs, fs.join(dir, "broken.json")), TokenizerError, literal(fs.join(dir, "broken.json")), /not valid JSON/);
    await write("bpe.json", JSON.stringify({ model: { type: "BPE", vocab: {}, merges: [] } }));
    await expectReject(loadTokenizer(fs, fs.join(dir, "bpe.json")), TokenizerError, /model\.type is "BPE"; a T5 tokenizer is a SentencePiece "Unigram" model/);
    await write("bad-vocab.json", JSON.stringify({ model: { type: "Unigram", unk_id: 0, vocab: [["<unk>", 0], ["a"]] } }));
    await expectReject(loadTokenizer(fs, fs.join(dir, "bad-vocab.json")), TokenizerError, /model\.vocab\[1\] must be \[piece, score\]/);
  });

  s.run();
}
