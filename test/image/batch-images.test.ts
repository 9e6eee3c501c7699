/**
 * A batch's images on their way to the vision encoder, with a fake vision encoder: each distinct input opened once
 * and merged by content, errors naming the requests on the image, and pixels decoded only at the image's turn and
 * dropped once its features exist.
 */
import { strict as assert } from "node:assert";
import * as ort from "onnxruntime-node";
import { DEFAULT_PREPROCESSOR_CONFIG } from "../../src/runtime/config";
import { encodeBatchImage, openBatchImages, type BatchImage, type ImageStage } from "../../src/image/batch-images";
import { FeatureCache } from "../../src/image/image-features";
import { makeTestImage } from "../support/images";

const D = 4;

function fakeStage(): ImageStage & { runs: number } {
  const stage = {
    runs: 0,
    cache: new FeatureCache(4),
    options: {},
    preprocessor: DEFAULT_PREPROCESSOR_CONFIG,
    dModel: D,
    vision: async () => {
      stage.runs++;
      return new ort.Tensor("float32", new Float32Array(577 * D), [1, 577, D]);
    },
  };
  return stage;
}

const byJobs = (jobs: readonly number[], err: unknown) => new Error(`jobs ${jobs.join(",")}: ${(err as Error).message}`);

describe("image/batch-images", function () {
  it("opens each distinct input once, merges inputs of the same content, and decodes only when encoding", async () => {
    const red = await makeTestImage({ width: 64, height: 48, pattern: "solid", color: [200, 10, 10] });
    const blue = await makeTestImage({ width: 32, height: 32, pattern: "solid", color: [10, 10, 200] });
    const sameAsRed = Buffer.from(red); // another Buffer, the same bytes
    const stage = fakeStage();
    const imageOf = await openBatchImages(stage, [red, blue, red, sameAsRed], byJobs);
    assert.equal(new Set(imageOf).size, 2);
    assert.equal(imageOf[0], imageOf[3], "the same bytes are one image");
    assert.deepEqual(imageOf[0].jobs, [0, 2, 3]);
    assert.deepEqual(imageOf[1].resolved?.imageSize, { width: 32, height: 32 }, "the size comes from the header");
    for (const image of new Set(imageOf)) assert.equal(image.resolved?.rgb, undefined, "nothing decoded before its turn");

    const signal = new AbortController().signal;
    const [first, second] = [...new Set(imageOf)] as BatchImage[];
    await encodeBatchImage(stage, first, signal, byJobs);
    assert.equal(stage.runs, 1);
    assert.equal(first.resolved?.opened, undefined, "the first image's bytes are dropped once encoded");
    assert.ok(second.resolved?.opened, "the second is still only opened");
    await encodeBatchImage(stage, second, signal, byJobs);
    assert.equal(stage.runs, 2);
    assert.equal(stage.cache.size, 2);

    const again = await openBatchImages(stage, [blue], byJobs);
    assert.ok(again[0].resolved?.cached, "the feature cache serves the next batch");
    await encodeBatchImage(stage, again[0], signal, byJobs);
    assert.equal(stage.runs, 2);
    assert.equal(again[0].cached, true);
  });

  it("names the requests on an image that cannot be opened, before any image is encoded", async () => {
    const stage = fakeStage();
    const good = await makeTestImage({ width: 16, height: 16 });
    await assert.rejects(openBatchImages(stage, [good, Buffer.from("not an image"), Buffer.from("not an image")], byJobs), /^Error: jobs 1: Cannot load image/);
    assert.equal(stage.runs, 0);
  });
});
