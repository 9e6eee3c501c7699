import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { MANIFEST_FILE } from "../../src/hub/cache";
import { readModelConfig, type ModelConfig } from "../../src/runtime/config";
import { isOutOfMemory, ModelLoadError } from "../../src/runtime/load-errors";
import { checkContract, moduleContract, openSessions, type SessionMetadata } from "../../src/runtime/sessions";
import { onnx } from "onnx-proto";
import { ModelBuilder, onnxDataType, type GraphBuilder } from "../../src/standin/onnx-builder";
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

  it("accepts an output the contract does not use (a re-export's extra), but still requires the ones it uses", () => {
    const m = decoderMetadata(BASE_CONFIG);
    const extra: SessionMetadata = { inputMetadata: m.inputMetadata, outputMetadata: [...m.outputMetadata, meta("encoder_last_hidden_state", "float32", ["b", "s", 768])] };
    assert.equal(checkContract(extra, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged.onnx").outputs.logits, "float32");
    const noLogits: SessionMetadata = { inputMetadata: m.inputMetadata, outputMetadata: extra.outputMetadata.filter((x) => x.name !== "logits") };
    assert.throws(
      () => checkContract(noLogits, "decoder_model_merged", BASE_CONFIG, "onnx/decoder_model_merged.onnx"),
      /missing outputs logits\./,
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

/**
 * Saves `m` with an initializer `name` of `n` float32 values in a sparse external-data file: the builder would
 * materialise the data, and this test needs more of it than the machine has.
 */
function writeBigInitializerModel(m: ModelBuilder, file: string, name: string, n: number): void {
  m.initializer(name, "float32", [1], new Float32Array(1));
  m.save(file, { externalThresholdBytes: Infinity });
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  const tensor = model.graph?.initializer?.find((t) => t.name === name) as onnx.ITensorProto;
  tensor.dims = [n];
  tensor.rawData = null;
  tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  tensor.externalData = [
    { key: "location", value: `${path.basename(file)}_data` },
    { key: "offset", value: "0" },
    { key: "length", value: String(n * 4) },
  ];
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  const fd = fs.openSync(`${file}_data`, "w");
  try {
    fs.ftruncateSync(fd, n * 4);
  } finally {
    fs.closeSync(fd);
  }
}

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

  /**
   * An embed_tokens graph with the export's input and output (int64 ids [b, s] -> float32 [b, s, D]); `first` may put
   * an operator on the ids before they become the embedding, `extraOutput` adds an output no one reads.
   */
  function writeEmbed(file: string, options: { first?: (m: ModelBuilder, ids: string) => string; extraOutput?: boolean } = {}): void {
    const D = readModelConfig(folder).dModel;
    const m = new ModelBuilder("embed_tokens");
    const g: GraphBuilder = m.graph;
    const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
    const first = options.first ? options.first(m, ids) : ids;
    const asFloat = g.op("Cast", [first], { to: onnxDataType("float32") });
    const embeds = g.op("Expand", [g.op("Unsqueeze", [asFloat, m.int64s([2])]), m.int64s([1, 1, D])]);
    g.output("inputs_embeds", embeds, "float32", ["batch_size", "sequence_length", D]);
    if (options.extraOutput) g.output("ids_as_float", g.op("Identity", [asFloat]), "float32", ["batch_size", "sequence_length"]);
    fs.rmSync(file, { force: true });
    m.save(file);
  }

  const sha256Of = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

  /** Writes the download manifest the hub code keeps, recording `relative` with the given size and sha256. */
  function recordDownload(dir: string, relative: string, size: number, sha256: string): void {
    const files = { [relative]: { path: relative, size, sha256 } };
    const manifest = { repo: "onnx-community/Florence-2-base-ft", revision: "main", commit: "0".repeat(40), endpoint: "http://127.0.0.1", files, listing: files };
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  }

  async function loadError(dir: string, settings: Parameters<typeof openSessions>[2] = {}): Promise<ModelLoadError> {
    try {
      const s = await openSessions(dir, readModelConfig(dir), settings);
      await s.release();
    } catch (err) {
      assert.ok(err instanceof ModelLoadError, `a ModelLoadError, not ${(err as Error).stack}`);
      return err;
    }
    throw new Error("the folder opened");
  }

  it("names an operator without a kernel on this provider, with the dtype, the provider and onnxruntime's error as cause", async () => {
    const broken = copyFolder("no-kernel");
    // Relu has no int64 kernel on the CPU: the right tensors, an operator this provider lacks.
    writeEmbed(path.join(broken, "onnx", "embed_tokens.onnx"), { first: (m, ids) => m.graph.op("Relu", [ids]) });
    const err = await loadError(broken);
    assert.equal(err.kind, "MISSING_OPERATOR");
    assert.match(err.message, /^Could not load onnx\/embed_tokens\.onnx \(dtype "fp32" for embed_tokens\) from ".*no-kernel": none of its execution providers \(cpu\) has a kernel for the operator Relu/);
    assert.doesNotMatch(err.message, /corrupt|damaged|download/i);
    assert.match((err.cause as Error).message, /Could not find an implementation for Relu\(14\)/);
  });

  it("for a quantized file lacking a quantized operator, names it and suggests a dtype of standard operators", async () => {
    const broken = copyFolder("no-op-q4");
    // MatMulNBits in a domain onnxruntime does not have: how a runtime without q4 kernels meets a q4 file.
    writeEmbed(path.join(broken, "onnx", "embed_tokens_q4.onnx"), {
      first: (m, ids) => {
        m.useDomain("com.example.nokernels", 1);
        return m.graph.op("MatMulNBits", [ids], {}, "com.example.nokernels");
      },
    });
    const err = await loadError(broken, { dtype: { embed_tokens: "q4" } });
    assert.equal(err.kind, "MISSING_OPERATOR");
    assert.match(err.message, /dtype "q4" for embed_tokens/);
    assert.match(err.message, /does not know the operator com\.example\.nokernels:MatMulNBits that the file uses \(on cpu\)/);
    assert.match(err.message, /MatMulNBits is one of the operators q4 files use \(MatMulNBits, GatherBlockQuantized\)\. Load embed_tokens in a dtype made of standard ONNX operators.*dtype: \{ embed_tokens: "fp32" \}/);
    assert.ok(err.cause instanceof Error);
  });

  it("calls a file damaged only when it differs from its download record, naming what differs", async () => {
    const broken = copyFolder("damaged");
    const file = path.join(broken, "onnx", "decoder_model_merged.onnx");
    const bytes = Buffer.from(fs.readFileSync(file));
    recordDownload(broken, "onnx/decoder_model_merged.onnx", bytes.length, sha256Of(file));
    bytes.fill(0xff, 0, 64); // same size, other bytes: what a size check alone lets through
    fs.rmSync(file);
    fs.writeFileSync(file, bytes);
    const err = await loadError(broken);
    assert.equal(err.kind, "DAMAGED_FILE");
    assert.match(err.message, /onnx\/decoder_model_merged\.onnx is damaged: its sha256 is [0-9a-f]{64}, expected [0-9a-f]{64} \(from the record of its download\)\. Delete it and load the model again/);
    assert.ok(err.cause instanceof Error);
  });

  it("says a file that matches its record is intact, so downloading it again will not help", async () => {
    const broken = copyFolder("intact-unreadable");
    const file = path.join(broken, "onnx", "encoder_model.onnx");
    fs.rmSync(file);
    fs.writeFileSync(file, "not an ONNX graph, but the bytes that were downloaded");
    recordDownload(broken, "onnx/encoder_model.onnx", fs.statSync(file).size, sha256Of(file));
    const err = await loadError(broken);
    assert.equal(err.kind, "UNREADABLE");
    assert.match(err.message, /Protobuf parsing failed.*The file is intact .*downloading it again will not help/s);
  });

  it("checks a file in a Hugging Face cache by its blob name, and never changes the cache", async () => {
    const snapshot = path.join(root, "hf", "models--onnx-community--Florence-2-base-ft", "snapshots", "c".repeat(40));
    const blobs = path.join(root, "hf", "models--onnx-community--Florence-2-base-ft", "blobs");
    fs.mkdirSync(blobs, { recursive: true });
    fs.mkdirSync(path.dirname(snapshot), { recursive: true });
    const copy = copyFolder("hf-source");
    fs.renameSync(copy, snapshot);
    const file = path.join(snapshot, "onnx", "vision_encoder.onnx");
    const sha = sha256Of(file);
    const damaged = Buffer.from(fs.readFileSync(file));
    damaged.fill(0, 0, 32);
    fs.writeFileSync(path.join(blobs, sha), damaged);
    fs.rmSync(file);
    fs.symlinkSync(path.join("..", "..", "..", "blobs", sha), file);
    const err = await loadError(snapshot);
    assert.equal(err.kind, "DAMAGED_FILE");
    assert.match(err.message, /is damaged: its sha256 is [0-9a-f]{64}, expected [0-9a-f]{64} \(from its Hugging Face cache blob name\)\. It lies in the Hugging Face cache, which this project never changes: .*hf download onnx-community\/Florence-2-base-ft onnx\/vision_encoder\.onnx --force-download/);
    assert.ok(fs.lstatSync(file).isSymbolicLink() && fs.readFileSync(path.join(blobs, sha)).equals(damaged), "the cache is as it was");
  });

  it("without a record, says the file could not be checked instead of calling it corrupt", async () => {
    const broken = copyFolder("truncated");
    const file = path.join(broken, "onnx", "decoder_model_merged.onnx");
    const bytes = fs.readFileSync(file);
    fs.rmSync(file);
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const err = await loadError(broken);
    assert.equal(err.kind, "UNREADABLE");
    assert.match(err.message, /^Could not load onnx\/decoder_model_merged\.onnx \(dtype "fp32" for decoder_model_merged\).*Nothing records what the file should hold.*a truncated or damaged copy fails like this/s);
  });

  it("names a provider that cannot start, and says the file is not at fault", async function () {
    let err: ModelLoadError;
    try {
      err = await loadError(folder, { executionProviders: ["tensorrt"] });
    } catch {
      return this.skip(); // this machine has TensorRT: nothing to show
    }
    assert.equal(err.kind, "PROVIDER");
    assert.match(err.message, /the tensorrt execution provider could not start \(onnxruntime said: .+\)\. The file itself is not at fault\. Load with device: "cpu"/);
  });

  it("says a session that runs out of memory is not the file's fault, and what needs less", async function () {
    this.timeout(120_000);
    const big = copyFolder("out-of-memory");
    // A 40 GB weight in a sparse external-data file (no disk used), opened under a 40 GB address-space limit.
    const n = 10_000_000_000;
    const m = new ModelBuilder("vision_encoder");
    const x = m.graph.input("pixel_values", "float32", ["batch_size", 3, "height", "width"]);
    m.graph.output("image_features", m.graph.op("Add", [x, "w"]), "float32", ["batch_size", "tokens", readModelConfig(folder).dModel]);
    const file = path.join(big, "onnx", "vision_encoder.onnx");
    fs.rmSync(file);
    fs.rmSync(`${file}_data`, { force: true });
    writeBigInitializerModel(m, file, "w", n);
    const child = spawnSync("bash", ["-c", `ulimit -v 40000000 && exec "${process.execPath}" --import tsx test/support/open-sessions-child.ts "${big}"`], {
      cwd: path.join(__dirname, "..", ".."),
      encoding: "utf8",
      timeout: 100_000,
    });
    const line = child.stdout.trim().split("\n").pop() ?? "";
    if (!line.startsWith("{")) return this.skip(); // no bash or ulimit here, or Node itself did not start under the limit
    const outcome = JSON.parse(line) as { kind?: string; message?: string; cause?: string; opened?: boolean };
    if (outcome.opened) return this.skip(); // this machine lazily maps 40 GB: nothing to show
    assert.equal(outcome.kind, "OUT_OF_MEMORY", outcome.message);
    assert.match(outcome.message ?? "", /\(dtype "fp32" for vision_encoder\).*there was not enough RAM to create the session \(onnxruntime said: .*bad_alloc.*\)\. The file itself is not at fault\. A smaller dtype needs less/);
    assert.match(outcome.cause ?? "", /bad_alloc/);
  });

  it("knows onnxruntime's out-of-memory messages (read under ulimit -v) from the others", () => {
    assert.ok(isOutOfMemory("Exception during initialization: std::bad_alloc"));
    assert.ok(isOutOfMemory("Failed to allocate memory for requested buffer of size 4000000000"));
    assert.ok(!isOutOfMemory("Load model from x.onnx failed:Protobuf parsing failed."));
  });

  it("opens a graph with an extra output that a re-export added", async () => {
    const extra = copyFolder("extra-output");
    writeEmbed(path.join(extra, "onnx", "embed_tokens.onnx"), { extraOutput: true });
    const s = await openSessions(extra, readModelConfig(extra));
    try {
      assert.deepEqual(s.embed.session.outputNames, ["inputs_embeds", "ids_as_float"]);
    } finally {
      await s.release();
    }
  });

  it("releases every opened session when one fails to open, and a failing release does not hide the first error", async () => {
    const broken = copyFolder("release-fails");
    writeEmbed(path.join(broken, "onnx", "decoder_model_merged.onnx"), { first: (m, ids) => m.graph.op("Relu", [ids]) });
    // Sessions are InferenceSession instances; a failing release is made by wrapping the class's own method.
    const proto = (ort.InferenceSession as unknown as { prototype: { release(): Promise<void> } }).prototype;
    const original = proto.release;
    let releases = 0;
    proto.release = async function (this: ort.InferenceSession) {
      releases++;
      await original.call(this);
      throw new Error("release failed");
    };
    try {
      await assert.rejects(openSessions(broken, readModelConfig(broken)), (err: Error) => {
        assert.ok(err instanceof ModelLoadError && err.kind === "MISSING_OPERATOR", err.message);
        return true;
      });
      assert.equal(releases, 3, "the three sessions opened before the decoder were all released");
      const s = await (async () => {
        proto.release = original;
        return openSessions(folder, readModelConfig(folder));
      })();
      proto.release = async function (this: ort.InferenceSession) {
        await original.call(this);
        if (this === s.vision.session) throw new Error("vision release failed");
      };
      await assert.rejects(s.release(), (err: Error) => {
        assert.match(err.message, /^Could not release vision_encoder \(vision release failed\); the other sessions were released\./);
        assert.equal((err.cause as Error).message, "vision release failed");
        return true;
      });
    } finally {
      proto.release = original;
    }
  });

  it("rejects a bad thread count and an unknown dtype before loading anything", async () => {
    const config = readModelConfig(folder);
    await assert.rejects(openSessions(folder, config, { intraOpNumThreads: -1 }), /non-negative integer for intraOpNumThreads.*received -1/);
    await assert.rejects(openSessions(folder, config, { dtype: "fp8" as never }), /Unsupported dtype "fp8"/);
  });
});
