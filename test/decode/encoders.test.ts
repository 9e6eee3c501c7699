/**
 * The encoders: the vision encoder's output shape, and the text encoder's batch of prompts of different lengths,
 * right-padded with the mask the decoder takes.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as ort from "onnxruntime-node";
import { readModelConfig } from "../../src/runtime/config";
import { encodePrompts, runVisionEncoder } from "../../src/decode/encoders";
import { openSessions, type Florence2Sessions } from "../../src/runtime/sessions";
import { float32Data } from "../support/decode";
import { writeStandInModel } from "../support/standin";

describe("encoders", function () {
  let root: string;
  let sessions: Florence2Sessions;
  let fp16: Florence2Sessions;
  let images: ort.Tensor[];

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-encoders-"));
    const folder = (await writeStandInModel(path.join(root, "model"), { dtypes: ["fp32", "fp16"], tokenizer: "generated" })).folder;
    sessions = await openSessions(folder, readModelConfig(folder), { intraOpNumThreads: 1 });
    fp16 = await openSessions(folder, readModelConfig(folder), { intraOpNumThreads: 1, dtype: "fp16" });
    const pixels = (k: number) => new Float32Array(3 * 768 * 768).map((_, i) => Math.cos(i / k));
    images = [await runVisionEncoder(sessions, pixels(31), [1, 3, 768, 768]), await runVisionEncoder(sessions, pixels(7), [1, 3, 768, 768])];
  });
  after(async () => {
    await sessions?.release();
    await fp16?.release();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("runs the vision encoder: [1, 577, D]", () => {
    assert.deepEqual(images[0].dims, [1, 577, sessions.heads * sessions.headDim]);
  });

  it("pads prompts of different lengths on the right; each row is its prompt encoded alone, then zeros, masked", async () => {
    const prompts = [
      { imageFeatures: images[0], promptIds: [0, 100, 200, 300, 2] },
      { imageFeatures: images[1], promptIds: [0, 400, 500, 600, 700, 800, 900, 2] },
      { imageFeatures: images[0], promptIds: [0, 2] },
    ];
    const batch = await encodePrompts(sessions, prompts);
    const [B, S, D] = batch.hiddenStates.dims;
    assert.deepEqual([B, S], [3, 577 + 8]);
    assert.deepEqual(batch.attentionMask.dims, [3, S]);
    const mask = Array.from(batch.attentionMask.data as BigInt64Array, Number);
    const hidden = float32Data(batch.hiddenStates);
    for (let b = 0; b < B; b++) {
      const length = 577 + prompts[b].promptIds.length;
      assert.deepEqual(mask.slice(b * S, (b + 1) * S), [...Array(length).fill(1), ...Array(S - length).fill(0)], `mask row ${b}`);
      const single = await encodePrompts(sessions, [prompts[b]]);
      assert.deepEqual(single.hiddenStates.dims, [1, length, D]);
      assert.deepEqual(hidden.slice(b * S * D, b * S * D + length * D), float32Data(single.hiddenStates), `row ${b} as encoded alone`);
      assert.ok(hidden.slice(b * S * D + length * D, (b + 1) * S * D).every((x) => x === 0), `row ${b} padding`);
    }
  });

  it("gives the decoder's element type for float16 files", async () => {
    const features = await runVisionEncoder(fp16, new Float32Array(3 * 768 * 768), [1, 3, 768, 768]);
    assert.equal(features.type, "float16");
    const batch = await encodePrompts(fp16, [{ imageFeatures: features, promptIds: [0, 5, 2] }]);
    assert.equal(batch.hiddenStates.type, fp16.decoder.types.inputs.encoder_hidden_states);
  });

  it("refuses no prompts and features of another size", async () => {
    await assert.rejects(encodePrompts(sessions, []), /at least one prompt/);
    const odd = { ...images[0], dims: [1, 576, images[0].dims[2]] } as unknown as ort.Tensor;
    await assert.rejects(encodePrompts(sessions, [{ imageFeatures: images[0], promptIds: [0, 2] }, { imageFeatures: odd, promptIds: [0, 2] }]), /prompt 1 has \[1, 576/);
  });
});
