/** T5 config.json: the real tiny checkpoint's config, HF defaults and activation rules, typed errors. */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileAccess } from "../../core/io/files.ts";
import { ConfigError, type T5Config, parseT5Config, readT5Config, t5ConfigToJson } from "../../core/io/t5-config.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";
import { expectReject, literal, scratchDir, testFiles } from "./helpers.ts";

const SOURCE = "models/test/config.json";

function parseError(json: unknown): ConfigError {
  try {
    parseT5Config(json, SOURCE);
  } catch (e) {
    assert.instance(e, ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(json)}`);
}

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("io: T5 config");
  let fs: FileAccess;
  let dir = "";
  let removeDir = async () => {};
  s.before(async () => {
    fs = await testFiles();
    const scratch = await scratchDir("config");
    dir = scratch.path;
    removeDir = scratch.remove;
  });
  s.after(() => removeDir());

  s("the real tiny-random-t5 config.json parses", async () => {
    const modelDir = fs.join(sharedDataDir(), "tiny-random-t5");
    const config = await readT5Config(fs, fs.join(modelDir, "config.json"));
    const expected: T5Config = {
      vocabSize: 1302,
      dModel: 32,
      dKv: 8,
      dFf: 37,
      numLayers: 5,
      numDecoderLayers: 5,
      numHeads: 4,
      relativeAttentionNumBuckets: 8,
      relativeAttentionMaxDistance: 128,
      dropoutRate: 0.1,
      layerNormEpsilon: 1e-6,
      initializerFactor: 0.002,
      feedForwardProj: "relu",
      isGatedAct: false,
      denseActFn: "relu",
      tieWordEmbeddings: true,
      padTokenId: 0,
      eosTokenId: 1,
      decoderStartTokenId: 0,
    };
    assert.equal(config, expected);
    assert.equal(await readT5Config(fs, modelDir), expected, "a directory path reads its config.json");
  });

  s("absent fields take HF's T5Config defaults", () => {
    assert.equal(parseT5Config({ model_type: "t5" }, SOURCE), {
      vocabSize: 32128,
      dModel: 512,
      dKv: 64,
      dFf: 2048,
      numLayers: 6,
      numDecoderLayers: 6,
      numHeads: 8,
      relativeAttentionNumBuckets: 32,
      relativeAttentionMaxDistance: 128,
      dropoutRate: 0.1,
      layerNormEpsilon: 1e-6,
      initializerFactor: 1,
      feedForwardProj: "relu",
      isGatedAct: false,
      denseActFn: "relu",
      tieWordEmbeddings: true,
      padTokenId: 0,
      eosTokenId: 1,
      decoderStartTokenId: 0,
    });
    assert.is(parseT5Config({ model_type: "t5", num_layers: 12, num_decoder_layers: null }, SOURCE).numDecoderLayers, 12);
    assert.is(parseT5Config({ model_type: "t5", num_layers: 12, num_decoder_layers: 3 }, SOURCE).numDecoderLayers, 3);
    assert.is(parseT5Config({ architectures: ["T5Model"] }, SOURCE).dModel, 512, "architectures alone identify T5");
    assert.is(parseT5Config({ architectures: ["T5WithLMHeadModel"], model_type: "t5" }, SOURCE).dModel, 512, "the old class name");
    assert.is(parseT5Config({ model_type: "t5", tie_word_embeddings: false, future_field: { x: 1 } }, SOURCE).tieWordEmbeddings, false);
  });

  s("feed_forward_proj: ACT or gated-ACT; gated-gelu means tanh GELU; stored dense_act_fn/is_gated_act win", () => {
    const act = (fields: Record<string, unknown>) => {
      const c = parseT5Config({ model_type: "t5", ...fields }, SOURCE);
      return [c.isGatedAct, c.denseActFn];
    };
    assert.equal(act({ feed_forward_proj: "relu" }), [false, "relu"]);
    assert.equal(act({ feed_forward_proj: "gelu" }), [false, "gelu"]);
    assert.equal(act({ feed_forward_proj: "gated-gelu" }), [true, "gelu_new"]);
    assert.equal(act({ feed_forward_proj: "gated-gelu_new" }), [true, "gelu_new"]);
    assert.equal(act({ feed_forward_proj: "gated-silu" }), [true, "silu"]);
    assert.equal(act({ feed_forward_proj: "gated-relu" }), [true, "relu"]);
    // FLAN-T5's config.json: all three fields, consistent.
    assert.equal(act({ feed_forward_proj: "gated-gelu", dense_act_fn: "gelu_new", is_gated_act: true }), [true, "gelu_new"]);
    // Disagreeing: transformers sets the stored values after deriving its own, so they win.
    assert.equal(act({ feed_forward_proj: "gated-gelu", dense_act_fn: "relu", is_gated_act: false }), [false, "relu"]);
    assert.equal(act({ feed_forward_proj: "relu", is_gated_act: true }), [true, "relu"]);
    assert.equal(act({ feed_forward_proj: "relu", dense_act_fn: "gelu_pytorch_tanh" }), [false, "gelu_new"]);
  });

  s("t5ConfigToJson writes HF's layout, and it parses back to the same config", async () => {
    const tiny = await readT5Config(fs, fs.join(sharedDataDir(), "tiny-random-t5", "config.json"));
    const gated = parseT5Config({ model_type: "t5", feed_forward_proj: "gated-gelu", tie_word_embeddings: false, num_decoder_layers: 2 }, SOURCE);
    for (const config of [tiny, gated]) {
      const json = t5ConfigToJson(config);
      assert.is(json.model_type, "t5");
      assert.equal(json.architectures, ["T5ForConditionalGeneration"]);
      assert.is(json.d_ff, config.dFf);
      assert.is(json.dense_act_fn, config.denseActFn);
      assert.equal(parseT5Config(JSON.parse(JSON.stringify(json)), SOURCE), config);
    }
  });

  s("bad configs get a ConfigError naming the file, the field and the value", async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ model_type: "t5", d_model: "512" }, "d_model", /expected number, got "512"/],
      [{ model_type: "t5", d_ff: -5 }, "d_ff", /got -5/],
      [{ model_type: "t5", num_heads: 2.5 }, "num_heads", /integer.*got 2\.5/],
      [{ model_type: "t5", vocab_size: 0 }, "vocab_size", /got 0/],
      [{ model_type: "t5", layer_norm_epsilon: 0 }, "layer_norm_epsilon", /got 0/],
      [{ model_type: "t5", dropout_rate: 1.5 }, "dropout_rate", /got 1\.5/],
      [{ model_type: "t5", tie_word_embeddings: "yes" }, "tie_word_embeddings", /expected boolean, got "yes"/],
      [{ model_type: "t5", num_decoder_layers: -1 }, "num_decoder_layers", /got -1/],
      [{ model_type: "t5", architectures: "T5Model" }, "architectures", /got "T5Model"/],
      [{ model_type: "bart" }, "model_type", /"bart" is not a T5 model/],
      [{ model_type: "t5", architectures: ["T5ForConditionalGeneration", "BertModel"] }, "architectures.1", /"BertModel" is not a T5 architecture/],
      [{ architectures: ["MT5ForConditionalGeneration"] }, "architectures.0", /not a T5 architecture/],
      [{ d_model: 512 }, "model_type", /missing: neither "model_type" nor "architectures"/],
      [{ model_type: "t5", feed_forward_proj: "gated-gelu-new" }, "feed_forward_proj", /"gated-gelu-new" is neither "ACT" nor "gated-ACT"/],
      [{ model_type: "t5", feed_forward_proj: "fast-gelu" }, "feed_forward_proj", /"fast-gelu" is neither/],
      [{ model_type: "t5", feed_forward_proj: "gated-gelu_fast" }, "feed_forward_proj", /activation "gelu_fast" is not supported/],
      [{ model_type: "t5", dense_act_fn: "mish" }, "dense_act_fn", /activation "mish" is not supported/],
      [[1, 2], "(root)", /must be a JSON object, got \[1,2\]/],
      [null, "(root)", /must be a JSON object, got null/],
    ];
    for (const [json, field, problem] of cases) {
      const e = parseError(json);
      assert.is(e._tag, "ConfigError");
      assert.is(e.field, field, JSON.stringify(json));
      assert.is(e.path, SOURCE);
      assert.match(e.message, literal(SOURCE));
      assert.match(e.message, literal(`field "${field}"`));
      assert.match(e.message, problem);
    }
    const broken = fs.join(dir, "config.json");
    await fs.writeAtomic(broken, [new TextEncoder().encode('{"model_type": "t5",')]);
    await expectReject(readT5Config(fs, broken), ConfigError, literal(broken), /not valid JSON/);
  });

  s.run();
}
