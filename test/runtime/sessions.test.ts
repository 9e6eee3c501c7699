import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as ort from "onnxruntime-node";
import { readModelConfig, type ModelConfig } from "../../src/runtime/config";
import { checkContract, moduleContract, openSessions, type SessionMetadata } from "../../src/runtime/sessions";
import { writeStandInModel } from "../support/standin";

const BASE_CONFIG: ModelConfig = {
  dModel: 768,
  decoderLayers: 6,
  decoderAttentionHeads: 12,
  vocabSize: 51289,
  maxPositionEmbeddings: 1024,
};

/** Metadata as onnxruntime reports it, for the contract check. */
function meta(name: string, type: ort.Tensor.Type, shape: (number | string)[]): ort.InferenceSession.ValueMetadata {
  return { name, isTensor: true, type, shape };
}

function decoderMetadata(config: ModelConfig, type: "float32" | "float16" = "float32"): SessionMetadata {
  const c = moduleContract("decoder_model_merged", config);
  const toMeta = (t: { name: string; kind: string; dims: readonly (number | null)[] }) =>
    meta(t.name, t.kind === "float" ? type : (t.kind as ort.Tensor.Type), t.dims.map((d, i) => d ?? `dim${i}`));
  return { inputMetadata: c.inputs.map(toMeta), outputMetadata: c.outputs.map(toMeta) };
}

describe("sessions: the tensor contract", () => {
  it("accepts the export's decoder (28 inputs for base) and reports float16 where the file has it", () => {
    const m = decoderMetadata(BASE_CONFIG, "float16");
    assert.equal(m.inputMetadata.length, 28);
    const types = checkContract(m, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged_fp16.onnx");
    assert.equal(types.inputs.inputs_embeds, "float16");
    assert.equal(types.outputs["present.5.encoder.value"], "float16");
  });

  it("names the file, the missing and unexpected tensors", () => {
    const m = decoderMetadata(BASE_CONFIG);
    const renamed: SessionMetadata = {
      inputMetadata: m.inputMetadata.map((x) => (x.name === "use_cache_branch" ? { ...x, name: "use_cache" } : x)),
      outputMetadata: m.outputMetadata,
    };
    assert.throws(
      () => checkContract(renamed, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged.onnx"),
      (err: Error) =>
        err.message.startsWith("onnx/decoder_model_merged.onnx does not have the tensors of a Florence-2 decoder_model_merged") &&
        err.message.includes("missing inputs use_cache_branch") &&
        err.message.includes("unexpected inputs use_cache"),
    );
  });

  it("refuses a wrong element type, naming expected and found", () => {
    const m: SessionMetadata = {
      inputMetadata: [meta("input_ids", "int32", ["batch_size", "sequence_length"])],
      outputMetadata: [meta("inputs_embeds", "float32", ["batch_size", "sequence_length", 768])],
    };
    assert.throws(
      () => checkContract(m, "embed_tokens", BASE_CONFIG, "onnx/embed_tokens.onnx"),
      /onnx\/embed_tokens.onnx: expected input "input_ids" of type int64 but found int32/,
    );
  });

  it("refuses dims that contradict config.json (a large file with a base config)", () => {
    const large = { ...BASE_CONFIG, dModel: 1024, decoderAttentionHeads: 16 };
    const m = decoderMetadata(large);
    assert.throws(
      () => checkContract(m, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged.onnx"),
      /expected input "inputs_embeds" with dims \[\?, \?, 768\] \(from config.json\) but found \[dim0, dim1, 1024\]/,
    );
  });

  it("refuses a decoder with another number of layers", () => {
    const m = decoderMetadata({ ...BASE_CONFIG, decoderLayers: 12 });
    assert.throws(
      () => checkContract(m, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged.onnx"),
      /unexpected inputs past_key_values\.6\.decoder\.key/,
    );
  });
});

describe("sessions: opening a model folder", function () {
  let root: string;
  let folder: string;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-sessions-"));
    folder = path.join(root, "tiny");
    await writeStandInModel(folder, { dtypes: ["fp32", "fp16"], tokenizer: "generated" });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A copy of the stand-in folder to break; onnx files are hard-linked (never written to). */
  function copyFolder(name: string): string {
    const to = path.join(root, name);
    fs.mkdirSync(path.join(to, "onnx"), { recursive: true });
    for (const f of fs.readdirSync(folder)) if (f !== "onnx") fs.copyFileSync(path.join(folder, f), path.join(to, f));
    for (const f of fs.readdirSync(path.join(folder, "onnx"))) fs.linkSync(path.join(folder, "onnx", f), path.join(to, "onnx", f));
    return to;
  }

  it("opens the four modules with their element types and cache geometry", async () => {
    const config = readModelConfig(folder);
    const s = await openSessions(folder, config, { intraOpNumThreads: 1 });
    try {
      assert.deepEqual([s.vision, s.embed, s.encoder, s.decoder].map((m) => m.module), [
        "vision_encoder",
        "embed_tokens",
        "encoder_model",
        "decoder_model_merged",
      ]);
      assert.equal(s.decoder.types.inputs.inputs_embeds, "float32");
      assert.equal(s.heads, config.decoderAttentionHeads);
      assert.equal(s.headDim, config.dModel / config.decoderAttentionHeads);
      assert.ok(path.isAbsolute(s.decoder.file) && s.decoder.file.endsWith("decoder_model_merged.onnx"));
    } finally {
      await s.release();
    }
  });

  it("opens fp16 files with float16 inputs and outputs, per module", async () => {
    const config = readModelConfig(folder);
    const s = await openSessions(folder, config, { dtype: { decoder_model_merged: "fp16", vision_encoder: "fp16" } });
    try {
      assert.equal(s.decoder.dtype, "fp16");
      assert.equal(s.decoder.types.inputs["past_key_values.0.decoder.key"], "float16");
      assert.equal(s.decoder.types.outputs.logits, "float16");
      assert.equal(s.vision.types.inputs.pixel_values, "float16");
      assert.equal(s.encoder.types.inputs.inputs_embeds, "float32");
    } finally {
      await s.release();
    }
  });

  it("names the missing file and its dtype, and the dtypes that are there", async () => {
    const config = readModelConfig(folder);
    await assert.rejects(openSessions(folder, config, { dtype: "q8" }), (err: Error) => {
      assert.match(err.message, /has no onnx\/vision_encoder_quantized\.onnx \(dtype "q8" for vision_encoder\)/);
      assert.match(err.message, /in dtype fp32, fp16/);
      return true;
    });
  });

  it("refuses a folder whose graph has the wrong tensors, naming the file", async () => {
    const broken = copyFolder("wrong-contract");
    // The encoder's graph where the embedding should be: other input and output names.
    fs.rmSync(path.join(broken, "onnx", "embed_tokens.onnx"));
    fs.copyFileSync(path.join(folder, "onnx", "encoder_model.onnx"), path.join(broken, "onnx", "embed_tokens.onnx"));
    await assert.rejects(
      openSessions(broken, readModelConfig(broken)),
      /onnx\/embed_tokens\.onnx does not have the tensors of a Florence-2 embed_tokens: missing inputs input_ids; unexpected inputs inputs_embeds, attention_mask/,
    );
  });

  it("refuses a config.json that does not match the files", async () => {
    const config = { ...readModelConfig(folder), decoderLayers: 2 };
    await assert.rejects(openSessions(folder, config), /onnx\/decoder_model_merged\.onnx does not have the tensors.*missing inputs past_key_values\.1\.decoder\.key/);
  });

  it("reports a truncated file as corrupt, with the fix", async () => {
    const broken = copyFolder("truncated");
    const file = path.join(broken, "onnx", "decoder_model_merged.onnx");
    const bytes = fs.readFileSync(file);
    fs.rmSync(file);
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(
      openSessions(broken, readModelConfig(broken)),
      /Could not load onnx\/decoder_model_merged\.onnx \(dtype "fp32" for decoder_model_merged\).*delete it and download the model again/s,
    );
  });

  it("rejects a bad thread count and an unknown dtype before loading anything", async () => {
    const config = readModelConfig(folder);
    await assert.rejects(openSessions(folder, config, { intraOpNumThreads: -1 }), /non-negative integer for intraOpNumThreads.*received -1/);
    await assert.rejects(openSessions(folder, config, { dtype: "fp8" as never }), /Unsupported dtype "fp8"/);
  });
});
