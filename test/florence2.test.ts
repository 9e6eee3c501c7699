import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import type * as ort from "onnxruntime-node";
import { Florence2, resolveRunOptions, type RunOptions } from "../src/florence2";
import { readGenerationConfig } from "../src/runtime/config";
import { loadImageRgb } from "../src/image/image";
import { postProcessGeneration } from "../src/text/postprocess";
import { Florence2Tokenizer } from "../src/text/tokenizer";
import { writeStandInModel } from "./support/standin";

const OD_TEXT = "car<loc_53><loc_333><loc_933><loc_774>wheel<loc_704><loc_576><loc_866><loc_772>";
const WIDTH = 640;
const HEIGHT = 480;

async function testImage(r: number, g: number, b: number): Promise<Buffer> {
  return sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

describe("florence2: the model API on a scripted stand-in", function () {
  let root: string;
  let folder: string;
  let model: Florence2;
  let script: number[];
  let green: Buffer;
  let red: Buffer;
  let greenFile: string;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-api-"));
    const plain = await writeStandInModel(path.join(root, "plain"), { tokenizer: "generated" });
    script = Florence2Tokenizer.fromFolder(plain.folder).encode(OD_TEXT);
    folder = (await writeStandInModel(path.join(root, "od"), { script, tokenizer: "generated" })).folder;
    model = await Florence2.load(folder, { intraOpNumThreads: 1 });
    green = await testImage(10, 200, 30);
    red = await testImage(200, 10, 30);
    greenFile = path.join(root, "green.png");
    fs.writeFileSync(greenFile, green);
  });
  after(async () => {
    await model?.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const numBeams of [1, 3]) {
    it(`runs <OD> (${numBeams === 1 ? "greedy" : "3 beams"}): result = postProcessGeneration(text), text = decode(ids)`, async () => {
      const out = await model.run(green, "<OD>", undefined, { numBeams });
      assert.deepEqual(out.ids, [2, ...script]);
      assert.equal(out.text, model.tokenizer.decode(out.ids));
      assert.equal(out.text, `</s><s>${OD_TEXT}</s>`);
      assert.deepEqual(out.result, postProcessGeneration(out.text, "<OD>", { width: WIDTH, height: HEIGHT }));
      assert.deepEqual((out.result["<OD>"] as { labels: string[] }).labels, ["car", "wheel"]);
      assert.equal(out.score === null, numBeams === 1);
    });
  }

  it("accepts the task name without brackets, and keys the result by the token", async () => {
    const out = await model.run(green, "OD", undefined, { numBeams: 1 });
    assert.deepEqual(Object.keys(out.result), ["<OD>"]);
  });

  it("uses generation_config.json's defaults: 3 beams", async () => {
    assert.equal(readGenerationConfig(folder).numBeams, 3);
    const out = await model.run(green, "<OD>");
    assert.equal(typeof out.score, "number");
  });

  it("reports per-stage timings that add up", async () => {
    const fresh = await Florence2.load(folder, { intraOpNumThreads: 1, cacheImageFeatures: false });
    try {
      const { timings: t } = await fresh.run(green, "<OD>", undefined, { numBeams: 1 });
      assert.equal(t.decoderSteps, script.length);
      assert.equal(t.imageFeaturesCached, false);
      for (const key of ["preprocess", "vision", "encoder", "decoder", "postprocess", "total", "sessionRun", "search"] as const) {
        assert.ok(t[key] > 0, `${key} = ${t[key]}`);
      }
      const parts = t.preprocess + t.vision + t.encoder + t.decoder + t.postprocess;
      assert.ok(parts <= t.total + 1e-6 && parts > 0.9 * t.total, `${parts} vs ${t.total}`);
      assert.ok(t.sessionRun < t.total);
    } finally {
      await fresh.dispose();
    }
  });

  describe("image feature cache", () => {
    it("runs the vision encoder once for several tasks on the same image (bytes, file or pixels)", async () => {
      model.clearImageCache();
      const first = await model.run(green, "<OD>", undefined, { numBeams: 1 });
      assert.equal(first.timings.imageFeaturesCached, false);
      assert.ok(first.timings.vision > 0);
      const again = await model.run(Buffer.from(green), "<CAPTION>", undefined, { numBeams: 1 });
      assert.equal(again.timings.imageFeaturesCached, true);
      assert.equal(again.timings.vision, 0);
      assert.equal((await model.run(greenFile, "<OD>", undefined, { numBeams: 1 })).timings.imageFeaturesCached, true);
      const pixels = await loadImageRgb(green);
      assert.equal((await model.run(pixels, "<OD>", undefined, { numBeams: 1 })).timings.imageFeaturesCached, false);
      assert.equal((await model.run(pixels, "<OD>", undefined, { numBeams: 1 })).timings.imageFeaturesCached, true);
    });

    it("keys by content: another image misses, and cached features give the same output", async () => {
      model.clearImageCache();
      const fresh = await model.run(red, "<OD>", undefined, { numBeams: 1 });
      assert.equal(fresh.timings.imageFeaturesCached, false);
      const cached = await model.run(red, "<OD>", undefined, { numBeams: 1 });
      assert.equal(cached.timings.imageFeaturesCached, true);
      assert.deepEqual(cached.ids, fresh.ids);
    });

    it("reuses encodeImage's features in run and generate", async () => {
      const features = await model.encodeImage(green);
      assert.deepEqual(features.imageSize, { width: WIDTH, height: HEIGHT });
      assert.equal(features.features.dims[1], 577);
      const out = await model.run(features, "<OD>", undefined, { numBeams: 1 });
      assert.equal(out.timings.imageFeaturesCached, true);
      assert.deepEqual(out.ids, [2, ...script]);
      const gen = await model.generate(features, "Locate the objects with category name in the image.", { numBeams: 3 });
      assert.deepEqual(gen.ids, [2, ...script]);
      assert.equal(gen.text, out.text);
      assert.equal(gen.stats.steps, script.length);
    });

    it("can be turned off", async () => {
      const uncached = await Florence2.load(folder, { intraOpNumThreads: 1, cacheImageFeatures: false });
      try {
        for (let i = 0; i < 2; i++) {
          assert.equal((await uncached.run(green, "<OD>", undefined, { numBeams: 1 })).timings.imageFeaturesCached, false);
        }
      } finally {
        await uncached.dispose();
      }
    });
  });

  describe("options and inputs are checked up front", () => {
    const defaults = () => readGenerationConfig(folder);
    const bad: [RunOptions, RegExp][] = [
      [{ numBeams: 0 }, /Expected an integer from 1 to 64 for numBeams \(1 = greedy\) but received 0\./],
      [{ numBeams: 2.5 }, /for numBeams .* but received 2\.5/],
      [{ maxNewTokens: 0 }, /Expected an integer from 1 to 65536 for maxNewTokens .* but received 0\./],
      [{ maxNewTokens: -5 }, /for maxNewTokens .* but received -5/],
      [{ maxNewTokens: 1e9 }, /for maxNewTokens .* but received 1000000000/],
      [{ maxNewTokens: "20" as unknown as number }, /for maxNewTokens .* but received "20"/],
      [{ noRepeatNgramSize: -1 }, /Expected an integer >= 0 for noRepeatNgramSize \(0 = off\) but received -1/],
      [{ earlyStopping: "yes" as unknown as boolean }, /Expected true, false or "never" for earlyStopping but received "yes"/],
      [{ lengthPenalty: NaN }, /Expected a finite number for lengthPenalty but received NaN/],
      [{ signal: {} as AbortSignal }, /Expected an AbortSignal .* for signal but received an empty object \{\}/],
      [{ onToken: 3 as unknown as () => void }, /Expected a function \(ids\) => void for onToken but received 3/],
      [{ num_beams: 3 } as RunOptions, /Unknown run option "num_beams"\. Options are camelCase: did you mean numBeams\?/],
    ];
    for (const [options, message] of bad) {
      it(`refuses ${JSON.stringify(options) ?? "a bad option"}`, async () => {
        assert.throws(() => resolveRunOptions(options, defaults()), message);
        await assert.rejects(model.run(green, "<OD>", undefined, options), message);
      });
    }

    it("fills the defaults from generation_config.json and 1024 new tokens", () => {
      assert.deepEqual(resolveRunOptions({}, defaults()), {
        numBeams: 3,
        maxNewTokens: 1024,
        earlyStopping: true,
        lengthPenalty: 1,
        noRepeatNgramSize: 3,
        signal: undefined,
        onToken: undefined,
      });
    });

    it("refuses an unknown task, a missing or extra input, before touching the image", async () => {
      await assert.rejects(model.run("/no/such/image.png", "<od>"), /Unknown Florence-2 task "<od>"\. Task tokens are upper-case: did you mean "<OD>"\?/);
      await assert.rejects(model.run("/no/such/image.png", "<OPEN_VOCABULARY_DETECTION>"), /needs a text input/);
      await assert.rejects(model.run("/no/such/image.png", "<OD>", "cat"), /takes no input/);
      await assert.rejects(model.run("/no/such/image.png", "<REGION_TO_CATEGORY>", "<loc_1>"), /REGION_TO_CATEGORY/);
    });

    it("refuses a prompt longer than the encoder's positions, naming the limit, before reading the image", async () => {
      const long = Array(500).fill("cat").join(" ");
      await assert.rejects(
        model.run("/no/such/image.png", "<OPEN_VOCABULARY_DETECTION>", long, { numBeams: 1 }),
        /The prompt is \d+ tokens long; with the 577 image tokens that is \d+ encoder positions, more than the model's 1024 \(max_position_embeddings in config\.json\)\. Shorten the text input to at most 447 tokens/,
      );
    });

    it("passes image errors through (missing file)", async () => {
      await assert.rejects(model.run(path.join(root, "missing.png"), "<OD>"), /missing\.png/);
    });
  });

  describe("cancellation, failures and dispose", () => {
    it("cancels between steps with the caller's signal and stays usable", async () => {
      const controller = new AbortController();
      let steps = 0;
      await assert.rejects(
        model.run(green, "<OD>", undefined, {
          numBeams: 3,
          signal: controller.signal,
          onToken: (ids) => {
            steps++;
            if (ids.length === 4) controller.abort();
          },
        }),
        (err: Error) => err.name === "AbortError",
      );
      assert.equal(steps, 3);
      assert.deepEqual((await model.run(green, "<OD>", undefined, { numBeams: 3 })).ids, [2, ...script]);
    });

    it("rejects at once with an already-aborted signal", async () => {
      await assert.rejects(model.run(green, "<OD>", undefined, { signal: AbortSignal.abort() }), (err: Error) => err.name === "AbortError");
    });

    it("survives a session error inside a run", async () => {
      const sessions = (model as unknown as { sessions: { decoder: { session: ort.InferenceSession } } }).sessions;
      const real = sessions.decoder.session;
      let calls = 0;
      const failing = Object.create(real) as ort.InferenceSession;
      failing.run = ((...args: Parameters<ort.InferenceSession["run"]>) => {
        if (++calls === 3) return Promise.reject(new Error("simulated onnxruntime failure"));
        return (real.run as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>)(...args);
      }) as ort.InferenceSession["run"];
      sessions.decoder.session = failing;
      try {
        await assert.rejects(model.run(green, "<OD>", undefined, { numBeams: 3 }), /simulated onnxruntime failure/);
      } finally {
        sessions.decoder.session = real;
      }
      assert.deepEqual((await model.run(green, "<OD>", undefined, { numBeams: 3 })).ids, [2, ...script]);
    });

    it("dispose cancels a run in progress, then every call fails clearly", async () => {
      const doomed = await Florence2.load(folder, { intraOpNumThreads: 1 });
      let disposing: Promise<void> | undefined;
      const run = doomed.run(green, "<OD>", undefined, {
        numBeams: 1,
        onToken: () => {
          disposing ??= doomed.dispose();
        },
      });
      await assert.rejects(run, /disposed during this run/);
      await disposing;
      await assert.rejects(doomed.run(green, "<OD>"), /This Florence2 model was disposed; load it again with Florence2\.load\(/);
      await assert.rejects(doomed.encodeImage(green), /was disposed/);
      await doomed.dispose();
    });
  });

  describe("loading", () => {
    function copyFolder(name: string): string {
      const to = path.join(root, name);
      fs.cpSync(folder, to, { recursive: true });
      return to;
    }

    it("refuses a tokenizer whose vocabulary size differs from config.json's", async () => {
      const other = copyFolder("vocab-mismatch");
      const config = JSON.parse(fs.readFileSync(path.join(other, "config.json"), "utf8"));
      config.vocab_size = 50265;
      config.text_config.vocab_size = 50265;
      fs.writeFileSync(path.join(other, "config.json"), JSON.stringify(config));
      await assert.rejects(
        Florence2.load(other),
        /The tokenizer in ".*vocab-mismatch" does not match config\.json's vocab_size 50265: it has ids beyond 50264, such as 50265 = "<od>"\. tokenizer\.json belongs to another model/,
      );
    });

    it("refuses a generation_config.json whose eos_token_id is not the tokenizer's </s>, naming both files and values", async () => {
      const other = copyFolder("eos-mismatch");
      const file = path.join(other, "generation_config.json");
      const generation = JSON.parse(fs.readFileSync(file, "utf8"));
      generation.eos_token_id = 1;
      fs.writeFileSync(file, JSON.stringify(generation));
      await assert.rejects(
        Florence2.load(other),
        /The end-of-sequence ids in ".*eos-mismatch" disagree: generation_config\.json's eos_token_id is 1, but tokenizer_config\.json's eos_token "<\/s>" is id 2 in tokenizer\.json\. .*set eos_token_id to 2 in generation_config\.json/,
      );
    });

    it("names a missing ONNX file and its dtype", async () => {
      await assert.rejects(Florence2.load(folder, { dtype: "q4" }), /has no onnx\/vision_encoder_q4\.onnx \(dtype "q4" for vision_encoder\)/);
    });

    it("refuses an unknown dtype and a bad cacheImageFeatures", async () => {
      await assert.rejects(Florence2.load(folder, { dtype: "fp64" as never }), /Unsupported dtype "fp64"/);
      await assert.rejects(Florence2.load(folder, { cacheImageFeatures: -1 }), /non-negative integer for cacheImageFeatures but received -1/);
    });

    it("reports the dtypes it loaded", () => {
      assert.deepEqual(model.dtypes, { vision_encoder: "fp32", embed_tokens: "fp32", encoder_model: "fp32", decoder_model_merged: "fp32" });
    });
  });
});
