/**
 * model.runBatch: requests decoded together (images x tasks, greedy and beams, different prompt lengths and
 * limits) must give every request exactly what model.run gives it alone. The stand-in's decoder is conditioned:
 * its choices depend on the image and the prompt (through the cross-attention cache) and on its own history, so a
 * row that read another request's cache, a wrong padding mask or a beam fed the wrong cache row would change the
 * ids. Random weights: only the agreement between the two paths means anything.
 *
 * Also here: concurrent calls on one model (they queue), reading an image once per run, and cancellation,
 * failures and dispose in the middle of a batch.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { Florence2, type BatchRequest, type ImageFeatures, type RunOutput } from "../src/florence2";
import type { RgbImage } from "../src/image/image";
import type { Florence2Sessions } from "../src/runtime/sessions";
import { makeRgbPattern, makeTestImage } from "./support/images";
import { CONDITIONED_TEST_IDS, CONDITIONED_TEST_SEED, writeStandInModel } from "./support/standin";

type SessionName = "vision" | "embed" | "encoder" | "decoder";
const SESSION_NAMES: SessionName[] = ["vision", "embed", "encoder", "decoder"];

function sessionsOf(model: Florence2): Florence2Sessions {
  return (model as unknown as { sessions: Florence2Sessions }).sessions;
}

/**
 * Wraps a model's sessions to count their runs and let a test look at (or fail) each call; `restore` puts the
 * real sessions back.
 */
function spySessions(
  model: Florence2,
  onRun?: (name: SessionName, feeds: Record<string, ort.Tensor>, out: ort.InferenceSession.ReturnType | undefined) => void,
  failAt?: { name: SessionName; call: number },
): { calls: Record<SessionName, number>; restore: () => void } {
  const sessions = sessionsOf(model);
  const calls = { vision: 0, embed: 0, encoder: 0, decoder: 0 };
  const reals = SESSION_NAMES.map((name) => sessions[name].session);
  SESSION_NAMES.forEach((name, i) => {
    const real = reals[i];
    const wrapper = Object.create(real) as ort.InferenceSession;
    wrapper.run = (async (feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) => {
      calls[name]++;
      if (failAt && failAt.name === name && failAt.call === calls[name]) {
        onRun?.(name, feeds, undefined);
        throw new Error("simulated onnxruntime failure");
      }
      const out = fetches ? await real.run(feeds, fetches) : await real.run(feeds);
      onRun?.(name, feeds, out);
      return out;
    }) as ort.InferenceSession["run"];
    sessions[name].session = wrapper;
  });
  return { calls, restore: () => SESSION_NAMES.forEach((name, i) => (sessions[name].session = reals[i])) };
}

/** What must be equal between a request run alone and in a batch (the score to float rounding). */
function assertSameOutput(batched: RunOutput, alone: RunOutput, label: string): void {
  assert.deepEqual(batched.ids, alone.ids, `${label}: ids`);
  assert.equal(batched.text, alone.text, `${label}: text`);
  assert.deepEqual(batched.result, alone.result, `${label}: result`);
  if (alone.score === null) assert.equal(batched.score, null, `${label}: score`);
  else assert.ok(Math.abs((batched.score as number) - alone.score) < 1e-5, `${label}: score ${batched.score} vs ${alone.score}`);
}

describe("florence2: runBatch on a conditioned stand-in (random weights)", function () {
  this.timeout(300_000);
  let root: string;
  let folder: string;
  let model: Florence2;
  let photo: Buffer;
  let photoFile: string;
  let gradientFile: string;
  let noise: RgbImage;
  let gradientFeatures: ImageFeatures;
  let requests: BatchRequest[];
  let alone: RunOutput[];
  const MAX_NEW_TOKENS = 30;

  /** run() with the batch's options under the request's own, as runBatch merges them. */
  const runAlone = (r: BatchRequest, m = model) => m.run(r.image, r.task, r.input, { maxNewTokens: MAX_NEW_TOKENS, ...r.options });

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-batch-"));
    folder = (await writeStandInModel(path.join(root, "model"), { restrictTo: CONDITIONED_TEST_IDS, conditioned: true, seed: CONDITIONED_TEST_SEED })).folder;
    model = await Florence2.load(folder, { intraOpNumThreads: 1 });
    photo = await makeTestImage({ width: 320, height: 240, pattern: "photo", seed: 1 });
    photoFile = path.join(root, "photo.png");
    fs.writeFileSync(photoFile, photo); // the same bytes as `photo`: one image to the batch
    gradientFile = path.join(root, "gradient.jpg");
    fs.writeFileSync(gradientFile, await makeTestImage({ width: 200, height: 300, pattern: "gradient", format: "jpeg" }));
    noise = makeRgbPattern({ width: 256, height: 256, pattern: "noise", seed: 3 });
    gradientFeatures = await model.encodeImage(gradientFile);
    requests = [
      { image: photo, task: "<CAPTION>", options: { numBeams: 1 } },
      { image: gradientFile, task: "<OD>", options: { numBeams: 3 } },
      { image: noise, task: "<OPEN_VOCABULARY_DETECTION>", input: "a green car parked in front of a yellow building", options: { numBeams: 1, maxNewTokens: 7 } },
      { image: photo, task: "<REGION_TO_DESCRIPTION>", input: { x1: 20, y1: 30, x2: 200, y2: 180 }, options: { numBeams: 2, earlyStopping: false } },
      { image: gradientFile, task: "CAPTION_TO_PHRASE_GROUNDING", input: "A green car", options: { numBeams: 3, lengthPenalty: 2 } },
      { image: noise, task: "<OCR>", options: { numBeams: 1 } },
      { image: photoFile, task: "<DENSE_REGION_CAPTION>", options: { numBeams: 4, maxNewTokens: 5 } },
      { image: gradientFeatures, task: "<MORE_DETAILED_CAPTION>", options: { numBeams: 3, earlyStopping: "never" } },
      { image: gradientFile, task: "<REGION_TO_CATEGORY>", input: "<loc_100><loc_200><loc_600><loc_700>", options: { numBeams: 1, noRepeatNgramSize: 0 } },
      { image: photo, task: "<OCR_WITH_REGION>", options: { numBeams: 3, earlyStopping: false } },
      // Done after step 0 (the forced </s>) and after step 1: they leave before the beams are spread and at once.
      { image: noise, task: "<CAPTION>", options: { numBeams: 3, maxNewTokens: 1 } },
      { image: photo, task: "<OD>", options: { numBeams: 1, maxNewTokens: 2 } },
    ];
    alone = [];
    for (const r of requests) alone.push(await runAlone(r));
  });
  after(async () => {
    await model?.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("has requests the decoder tells apart: different outputs, lengths, early ends", () => {
    assert.ok(new Set(alone.map((o) => o.ids.join(","))).size >= 8, "most requests should differ");
    assert.ok(new Set(alone.map((o) => o.ids.length)).size >= 4, `lengths ${alone.map((o) => o.ids.length)}`);
    const limits = requests.map((r) => r.options?.maxNewTokens ?? MAX_NEW_TOKENS);
    assert.ok(alone.some((o, i) => o.ids.length - 1 < limits[i]), "some request should end with its own </s>");
    assert.ok(alone.some((o, i) => o.ids.length - 1 === limits[i]), "some request should run to its limit");
    // The same task on other images, and other tasks on the same image, give other ids.
    const caption = (image: BatchRequest["image"]) => runAlone({ image, task: "<CAPTION>", options: { numBeams: 1 } });
    return Promise.all([caption(gradientFile), caption(noise)]).then(([g, n]) => {
      assert.ok(new Set([alone[0], g, n].map((o) => o.ids.join(","))).size >= 2, "another image should change the caption");
    });
  });

  for (const maxBatchRows of [undefined, 7, 4, 1]) {
    it(`gives every request what run gives it alone (maxBatchRows ${maxBatchRows ?? "default"})`, async () => {
      const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, maxBatchRows });
      assert.equal(outs.length, requests.length);
      outs.forEach((out, i) => assertSameOutput(out, alone[i], `request ${i} (${requests[i].task})`));
      const rows = requests.reduce((s, r) => s + (r.options?.numBeams ?? 3), 0);
      const batch = outs[0].timings.batch;
      assert.ok(batch);
      assert.ok(outs.every((o) => o.timings.batch === batch));
      const cap = maxBatchRows ?? model.maxBatchRows;
      if (rows <= cap) {
        assert.equal(batch.waves, 1, `${rows} rows fit in one wave`);
        return;
      }
      assert.ok(batch.waves > 1);
      assert.ok(batch.maxRows <= Math.max(cap, 4), `at most ${cap} rows, or one request's beams`);
    });
  }

  it("decodes all live rows of a wave in one decoder run, dropping the rows of finished requests", async () => {
    const rowsPerCall: number[] = [];
    const spy = spySessions(model, (name, feeds) => name === "decoder" && rowsPerCall.push(feeds.inputs_embeds.dims[0]));
    try {
      const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, maxBatchRows: 64 });
      // A greedy request steps once per generated token; a beam search may go on after its best hypothesis ended.
      const stepsOf = outs.map((o) => o.timings.decoderSteps);
      outs.forEach((o, i) => requests[i].options?.numBeams === 1 && assert.equal(stepsOf[i], o.ids.length - 1));
      const steps = Math.max(...stepsOf);
      assert.equal(rowsPerCall.length, steps, "one decoder run per step for the whole wave");
      assert.equal(rowsPerCall[0], requests.length, "step 0: one row per request");
      const widths = requests.map((r) => r.options?.numBeams ?? 3);
      // Rows at step t >= 1: the widths of the requests that take part in step t.
      const expected = Array.from({ length: steps - 1 }, (_, t) => stepsOf.reduce((s, n, i) => s + (n > t + 1 ? widths[i] : 0), 0));
      assert.deepEqual(rowsPerCall.slice(1), expected);
      assert.deepEqual(outs[0].timings.batch?.stepsByRows.map((e) => e.steps).reduce((a, b) => a + b), steps);
    } finally {
      spy.restore();
    }
  });

  it("encodes each distinct image once per batch; the feature cache serves the next batch", async () => {
    model.clearImageCache();
    const spy = spySessions(model);
    try {
      const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS });
      // photo (Buffer and file: same bytes), gradient (file; its features passed as well: same key), noise.
      assert.equal(spy.calls.vision, 2, "the gradient's features were passed in, so only photo and noise are encoded");
      assert.equal(outs[0].timings.batch?.images, 3);
      assert.equal(outs[0].timings.batch?.visionRuns, 2);
      const onGradient = (r: BatchRequest) => r.image === gradientFeatures || r.image === gradientFile;
      assert.deepEqual(outs.map((o) => o.timings.imageFeaturesCached), requests.map(onGradient));
      assert.equal(spy.calls.encoder, requests.length, "one encoder run per prompt");
      const again = await model.runBatch(requests.slice(0, 3), { maxNewTokens: MAX_NEW_TOKENS });
      assert.equal(spy.calls.vision, 2, "the second batch finds every image in the cache");
      assert.ok(again.every((o) => o.timings.imageFeaturesCached && o.timings.vision === 0));
    } finally {
      spy.restore();
    }
  });

  it("reports each request's tokens through onToken with its index, as run reports them", async () => {
    const seen = requests.map(() => [] as number[][]);
    await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, onToken: (ids, i) => seen[i].push([...ids]) });
    for (let i = 0; i < requests.length; i++) {
      const own: number[][] = [];
      await model.run(requests[i].image, requests[i].task, requests[i].input, {
        maxNewTokens: MAX_NEW_TOKENS,
        ...requests[i].options,
        onToken: (ids) => own.push([...ids]),
      });
      assert.deepEqual(seen[i], own, `request ${i}`);
    }
  });

  it("splits the batch's time among its requests: the shares add up to the batch's totals", async () => {
    model.clearImageCache();
    const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, maxBatchRows: 64 });
    const batch = outs[0].timings.batch;
    assert.ok(batch);
    const sum = (key: "preprocess" | "vision" | "encoder" | "decoder" | "postprocess" | "total" | "sessionRun" | "search") =>
      outs.reduce((s, o) => s + o.timings[key], 0);
    for (const key of ["preprocess", "vision", "encoder", "decoder", "postprocess", "total", "sessionRun", "search"] as const) {
      assert.ok(Math.abs(sum(key) - batch[key]) <= 1e-6 * batch.total + 1e-6, `${key}: ${sum(key)} vs ${batch[key]}`);
    }
    assert.ok(batch.decoder > 0 && batch.vision > 0 && batch.encoder > 0);
    assert.equal(batch.decoderSteps, Math.max(...outs.map((o) => o.timings.decoderSteps)));
    assert.ok(batch.total >= batch.preprocess + batch.vision + batch.encoder + batch.decoder + batch.postprocess - 1e-6);
    // A longer request gets more of the decoder than a shorter one with as many rows.
    const greedy = outs.map((o, i) => ({ o, i })).filter(({ i }) => requests[i].options?.numBeams === 1);
    const longest = greedy.reduce((a, b) => (b.o.ids.length > a.o.ids.length ? b : a));
    const shortest = greedy.reduce((a, b) => (b.o.ids.length < a.o.ids.length ? b : a));
    assert.ok(longest.o.timings.decoder > shortest.o.timings.decoder);
  });

  it("decodes a row in a batch as it decodes it alone: the logits differ by float rounding only", async () => {
    // Greedy requests with one limit: row i of every decoder step is request i until the first one finishes. The
    // logits are copied as the decoder returns them, before the processors edit them.
    const greedy = requests.map((r) => ({ ...r, options: { numBeams: 1 } }));
    const capture = () => {
      const steps: Float32Array[] = [];
      const spy = spySessions(model, (name, _feeds, out) => name === "decoder" && out && steps.push(((out.logits as ort.Tensor).data as Float32Array).slice()));
      return { steps, spy };
    };
    const batched = capture();
    let outs: RunOutput[];
    try {
      outs = await model.runBatch(greedy, { maxNewTokens: MAX_NEW_TOKENS });
    } finally {
      batched.spy.restore();
    }
    const common = Math.min(...outs.map((o) => o.ids.length - 1));
    const V = model.config.vocabSize;
    let worst = 0;
    for (let i = 0; i < greedy.length; i++) {
      const single = capture();
      try {
        await runAlone(greedy[i]);
      } finally {
        single.spy.restore();
      }
      for (let t = 0; t < common; t++) {
        // Only the allowed ids: the others sit near -1e4, where float32 values are 1e-3 apart.
        for (const id of CONDITIONED_TEST_IDS) worst = Math.max(worst, Math.abs(batched.steps[t][i * V + id] - single.steps[t][id]));
      }
    }
    console.log(`      largest logit difference, row in a batch of ${greedy.length} vs alone (${common} steps): ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-3, `largest difference ${worst}`);
  });

  describe("checks every request before running anything (errors name the request)", () => {
    const bad: { name: string; make: () => unknown[]; options?: object; message: RegExp }[] = [
      { name: "an unknown task", make: () => [...requests.slice(0, 3), { image: photo, task: "<od>" }], message: /runBatch request 3: Unknown Florence-2 task "<od>"\. Task tokens are upper-case: did you mean "<OD>"\?/ },
      { name: "a missing text input", make: () => [requests[0], { image: photo, task: "<OPEN_VOCABULARY_DETECTION>" }], message: /runBatch request 1: Task <OPEN_VOCABULARY_DETECTION> needs a text input/ },
      { name: "a bad request option", make: () => [requests[0], requests[1], { image: photo, task: "<OD>", options: { numBeams: 0 } }], message: /runBatch request 2: Expected an integer from 1 to 64 for numBeams \(1 = greedy\) but received 0\./ },
      { name: "a run-only option in a request", make: () => [{ image: photo, task: "<OD>", options: { signal: AbortSignal.abort() } }], message: /runBatch request 0: Unknown request option "signal"\. Expected one of: numBeams, maxNewTokens, earlyStopping, lengthPenalty, noRepeatNgramSize\./ },
      { name: "an unknown field", make: () => [requests[0], { image: photo, task: "<OD>", prompt: "x" }], message: /runBatch request 1: Unknown request field "prompt"\. Expected one of: image, task, input, options\./ },
      { name: "a missing image", make: () => [requests[0], { task: "<OD>" }], message: /runBatch request 1: Expected an image .* but received undefined\./ },
      { name: "a missing file", make: () => [requests[0], requests[1], { image: path.join(root, "missing.png"), task: "<OD>" }], message: /runBatch request 2: Cannot load image ".*missing\.png": no such file/ },
      { name: "a file that is no image", make: () => [requests[0], { image: path.join(root, "model", "config.json"), task: "<OD>" }], message: /runBatch request 1: Cannot load image ".*config\.json"/ },
      { name: "a box outside the image", make: () => [requests[0], { image: noise, task: "<REGION_TO_CATEGORY>", input: { x1: 300, y1: 10, x2: 900, y2: 50 } }], message: /runBatch request 1: Expected a region inside the 256x256 image/ },
      { name: "a prompt too long", make: () => [requests[0], { image: photo, task: "<OPEN_VOCABULARY_DETECTION>", input: Array(500).fill("cat").join(" ") }], message: /runBatch request 1: The prompt is \d+ tokens long/ },
      { name: "a bad batch option", make: () => requests.slice(0, 2), options: { maxBatchRows: 0 }, message: /Expected an integer >= 1 for maxBatchRows but received 0\./ },
      { name: "an unknown batch option", make: () => requests.slice(0, 2), options: { max_batch_rows: 3 }, message: /Unknown batch option "max_batch_rows"\. Options are camelCase: did you mean maxBatchRows\?/ },
      { name: "a bad batch-wide generation option", make: () => requests.slice(0, 2), options: { earlyStopping: "yes" }, message: /Expected true, false or "never" for earlyStopping but received "yes"\./ },
      { name: "requests that are no array", make: () => ({ image: photo, task: "<OD>" }) as unknown as unknown[], message: /Expected an array of requests \(\{ image, task, input\?, options\? \}\) for runBatch but received an object with keys \[image, task\]\./ },
      { name: "a request that is no object", make: () => [requests[0], "<OD>"], message: /runBatch request 1: Expected an object of request fields/ },
    ];
    for (const { name, make, options, message } of bad) {
      it(`refuses ${name} before any session runs`, async () => {
        const spy = spySessions(model);
        try {
          await assert.rejects(model.runBatch(make() as BatchRequest[], { maxNewTokens: MAX_NEW_TOKENS, ...options }), message);
          assert.deepEqual(spy.calls, { vision: 0, embed: 0, encoder: 0, decoder: 0 });
        } finally {
          spy.restore();
        }
      });
    }

    it("returns [] for no requests", async () => {
      assert.deepEqual(await model.runBatch([]), []);
    });
  });

  describe("cancellation, failures and dispose in the middle of a batch", () => {
    it("cancels between steps with the caller's signal; the model stays usable", async () => {
      const controller = new AbortController();
      let tokens = 0;
      await assert.rejects(
        model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, signal: controller.signal, onToken: () => ++tokens === 25 && controller.abort() }),
        (err: Error) => err.name === "AbortError",
      );
      const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, maxBatchRows: 6 });
      outs.forEach((out, i) => assertSameOutput(out, alone[i], `request ${i} after the cancelled batch`));
    });

    it("survives a session error mid-batch and releases the cache it held", async () => {
      const fed: Record<string, ort.Tensor>[] = [];
      const spy = spySessions(model, (name, feeds) => name === "decoder" && fed.push(feeds), { name: "decoder", call: 6 });
      try {
        await assert.rejects(model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS }), /simulated onnxruntime failure/);
      } finally {
        spy.restore();
      }
      // The failing step's cache and encoder states were disposed: their data can't be read any more.
      const failed = fed[fed.length - 1];
      for (const name of ["past_key_values.0.decoder.key", "past_key_values.0.encoder.value", "encoder_hidden_states", "encoder_attention_mask"]) {
        assert.throws(() => failed[name].data, /disposed|not on CPU/i, `${name} should be released`);
      }
      const outs = await model.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS });
      outs.forEach((out, i) => assertSameOutput(out, alone[i], `request ${i} after the failure`));
    });

    it("dispose cancels a batch in progress and the calls waiting behind it", async () => {
      const doomed = await Florence2.load(folder, { intraOpNumThreads: 1 });
      let disposing: Promise<void> | undefined;
      const batch = doomed.runBatch(requests, { maxNewTokens: MAX_NEW_TOKENS, onToken: () => void (disposing ??= doomed.dispose()) });
      const queued = doomed.run(photo, "<CAPTION>", undefined, { numBeams: 1 });
      await assert.rejects(batch, /disposed during this run/);
      await assert.rejects(queued, /disposed during this run/);
      await disposing;
      await assert.rejects(doomed.runBatch(requests), /This Florence2 model was disposed/);
    });
  });

  describe("concurrent calls on one model", () => {
    it("two runs started together give what they give one after the other", async () => {
      const [a, b] = await Promise.all([runAlone(requests[1]), runAlone(requests[3])]);
      assertSameOutput(a, alone[1], "first");
      assertSameOutput(b, alone[3], "second");
    });

    it("Promise.all over tasks on one image runs the vision encoder once and equals sequential runs", async () => {
      model.clearImageCache();
      const spy = spySessions(model);
      try {
        const onPhoto = requests.filter((r) => r.image === photo);
        const outs = await Promise.all(onPhoto.map((r) => runAlone(r)));
        assert.equal(spy.calls.vision, 1);
        outs.forEach((out, k) => assertSameOutput(out, alone[requests.indexOf(onPhoto[k])], `task ${onPhoto[k].task}`));
        assert.deepEqual(outs.map((o) => o.timings.imageFeaturesCached), onPhoto.map((_, k) => k > 0));
      } finally {
        spy.restore();
      }
    });

    it("a run and a batch started together don't mix", async () => {
      const [batch, single] = await Promise.all([model.runBatch(requests.slice(0, 4), { maxNewTokens: MAX_NEW_TOKENS }), runAlone(requests[7])]);
      batch.forEach((out, i) => assertSameOutput(out, alone[i], `batch request ${i}`));
      assertSameOutput(single, alone[7], "the run");
    });

    it("a waiting call whose signal aborts leaves the queue; the others go on", async () => {
      const controller = new AbortController();
      const first = runAlone(requests[1]);
      const waiting = model.run(photo, "<CAPTION>", undefined, { numBeams: 1, signal: controller.signal });
      const third = runAlone(requests[3]);
      controller.abort();
      await assert.rejects(waiting, (err: Error) => err.name === "AbortError");
      assertSameOutput(await first, alone[1], "first");
      assertSameOutput(await third, alone[3], "third");
    });
  });

  it("reads an image file once per run: the cache key and the pixels come from the same bytes", async () => {
    model.clearImageCache();
    const reads: string[] = [];
    const real = fs.promises.readFile;
    fs.promises.readFile = ((file: fs.PathLike, ...rest: unknown[]) => {
      reads.push(String(file));
      return (real as (...a: unknown[]) => Promise<Buffer>)(file, ...rest);
    }) as typeof fs.promises.readFile;
    try {
      await model.run(photoFile, "<CAPTION>", undefined, { numBeams: 1, maxNewTokens: 3 });
    } finally {
      fs.promises.readFile = real;
    }
    assert.deepEqual(reads.filter((f) => f === photoFile), [photoFile]);
  });
});
