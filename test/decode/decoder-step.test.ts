/**
 * DecoderStep: the decoder with its KV cache for a batch of rows. Rows are repeated, copied and removed; a row
 * moved by any of these must go on exactly as the same request decoded alone. Checked on a conditioned stand-in,
 * whose logits depend on the image, the prompt and the history, so a row that took another row's cache shows.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readModelConfig } from "../../src/runtime/config";
import { DecoderStep } from "../../src/decode/decoder-step";
import { encodePrompts, runVisionEncoder, type EncodedPrompts } from "../../src/decode/encoders";
import { openSessions, type Florence2Sessions } from "../../src/runtime/sessions";
import { CONDITIONED_TEST_IDS, CONDITIONED_TEST_SEED, writeStandInModel } from "../support/standin";

const START = 2;
const [A, B, C, D, E, F, G] = [10, 11, 12, 13, 50270, 50271, 50272];

describe("DecoderStep: rows of the batch", function () {
  let root: string;
  let sessions: Florence2Sessions;
  let prompts: { imageFeatures: import("onnxruntime-node").Tensor; promptIds: number[] }[];
  let V: number;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-decoder-cache-"));
    const folder = (await writeStandInModel(path.join(root, "model"), { restrictTo: CONDITIONED_TEST_IDS, conditioned: true, seed: CONDITIONED_TEST_SEED })).folder;
    sessions = await openSessions(folder, readModelConfig(folder), { intraOpNumThreads: 1 });
    V = sessions.vocabSize;
    const image = async (k: number) => runVisionEncoder(sessions, new Float32Array(3 * 768 * 768).map((_, i) => Math.sin(i / k)), [1, 3, 768, 768]);
    // Two requests with other images and prompts of other lengths (so the batch pads one of them).
    prompts = [
      { imageFeatures: await image(97), promptIds: [0, 2264, 473, 5, 2274, 6190, 116, 2] },
      { imageFeatures: await image(13), promptIds: [0, 3000, 4000, 2] },
    ];
  });
  after(async () => {
    await sessions?.release();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const encode = (which: number[]): Promise<EncodedPrompts> => encodePrompts(sessions, which.map((i) => prompts[i]));
  const row = (logits: Float32Array, r: number) => logits.slice(r * V, (r + 1) * V);

  /** The logits of each step of one request decoded alone along `tokens` (after the start token). */
  async function alone(request: number, tokens: number[]): Promise<Float32Array[]> {
    const cache = new DecoderStep(sessions, await encode([request]));
    try {
      const out = [(await cache.run([START])).slice()];
      for (const t of tokens) out.push((await cache.run([t])).slice());
      return out;
    } finally {
      cache.dispose();
    }
  }

  function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
    let worst = 0;
    // The ids outside the decoder's list sit near -1e4, where float32 steps are 1e-3: compare relative there.
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(actual[v] - expected[v]) / Math.max(1, Math.abs(expected[v])));
    assert.ok(worst < 1e-5, `${label}: largest relative difference ${worst}`);
  }

  it("repeats, copies and removes rows; every row goes on as its request alone", async () => {
    const cache = new DecoderStep(sessions, await encode([0, 1]));
    try {
      const step0 = await cache.run([START, START]);
      const first = await alone(0, [A, D, F]);
      const second = await alone(1, [C, E, G]);
      assertClose(row(step0, 0), first[0], "step 0, request 0");
      assertClose(row(step0, 1), second[0], "step 0, request 1");

      cache.gatherRows([0, 0, 1]); // request 0 on rows 0 and 1 (two beams), request 1 on row 2
      assert.equal(cache.rows, 3);
      const step1 = await cache.run([A, B, C]);
      assertClose(row(step1, 0), first[1], "step 1, row 0");
      assertClose(row(step1, 2), second[1], "step 1, row 2");
      assert.notDeepEqual(row(step1, 1), row(step1, 0), "row 1 took another token");

      cache.copySelfRows([[0, 1]]); // both beams of request 0 now continue row 0
      const step2 = await cache.run([D, D, E]);
      assertClose(row(step2, 0), first[2], "step 2, row 0");
      assertClose(row(step2, 1), first[2], "step 2, row 1 (copied from row 0)");
      assertClose(row(step2, 2), second[2], "step 2, row 2");

      const newIndex = cache.removeRows([0]); // row 2 moves into the hole
      assert.deepEqual(Array.from(newIndex), [-1, 1, 0]);
      assert.equal(cache.rows, 2);
      const step3 = await cache.run([G, F]);
      assertClose(row(step3, 0), second[3], "step 3, request 1 (moved)");
      assertClose(row(step3, 1), first[3], "step 3, request 0");
      assert.equal(cache.pastLength, 4);
      assert.equal(cache.stats.rowCopies, 1);
      assert.ok(cache.stats.sessionMs > 0 && cache.stats.rowMs > 0);
    } finally {
      cache.dispose();
    }
  });

  it("removes several rows: the last rows move into the holes", async () => {
    const cache = new DecoderStep(sessions, await encode([0, 1]));
    try {
      await cache.run([START, START]);
      cache.gatherRows([0, 1, 0, 1, 0]);
      await cache.run([A, C, A, C, A]);
      const newIndex = cache.removeRows([1, 2]); // rows 3 and 4 fill the holes, in order
      assert.deepEqual(Array.from(newIndex), [0, -1, -1, 1, 2]);
      const logits = await cache.run([D, E, D]);
      const first = await alone(0, [A, D]);
      const second = await alone(1, [C, E]);
      assertClose(row(logits, 0), first[2], "old row 0");
      assertClose(row(logits, 1), second[2], "old row 3");
      assertClose(row(logits, 2), first[2], "old row 4");
    } finally {
      cache.dispose();
    }
  });

  it("checks its inputs and refuses to step after dispose", async () => {
    const cache = new DecoderStep(sessions, await encode([0]));
    await assert.rejects(cache.run([START, START]), /Expected one token per batch row \(1\) but received 2/);
    assert.throws(() => cache.gatherRows([1]), /row 1 is not among the 1 rows/);
    cache.dispose();
    cache.dispose();
    await assert.rejects(cache.run([START]), /after dispose/);
  });
});
