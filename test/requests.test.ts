/**
 * What run and runBatch accept: option defaults and checks (the messages are checked where users meet them, in
 * florence2.test.ts and florence2-batch.test.ts), and the default batch size per model size.
 */
import * as assert from "node:assert/strict";
import type { GenerationConfig } from "../src/runtime/config";
import { DEFAULT_MAX_BATCH_ROWS, checkBatchRequest, defaultMaxBatchRows, resolveBatchOptions } from "../src/requests";

const DEFAULTS = { numBeams: 3, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 3 } as GenerationConfig;

describe("requests", () => {
  it("defaults maxBatchRows to the same cache memory per model size: 32 rows for base, 12 for large", () => {
    assert.equal(defaultMaxBatchRows({ decoderLayers: 6, dModel: 768 }), DEFAULT_MAX_BATCH_ROWS);
    assert.equal(DEFAULT_MAX_BATCH_ROWS, 32);
    assert.equal(defaultMaxBatchRows({ decoderLayers: 12, dModel: 1024 }), 12);
    assert.equal(defaultMaxBatchRows({ decoderLayers: 1, dModel: 16 }), 64, "capped for tiny models");
    assert.equal(defaultMaxBatchRows({ decoderLayers: 96, dModel: 8192 }), 1, "at least one row");
  });

  it("merges a request's options over the batch's, the model's defaults under both", () => {
    const batch = resolveBatchOptions({ numBeams: 1, maxNewTokens: 20 }, DEFAULTS, 24);
    assert.equal(batch.maxBatchRows, 24);
    const own = checkBatchRequest({ image: "a.jpg", task: "OD", options: { maxNewTokens: 5 } }, batch, DEFAULTS);
    assert.equal(own.task.token, "<OD>");
    assert.deepEqual(own.decoding, { numBeams: 1, maxNewTokens: 5, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 3 });
    const plain = checkBatchRequest({ image: "a.jpg", task: "<CAPTION>" }, resolveBatchOptions({}, DEFAULTS, 9), DEFAULTS);
    assert.deepEqual(plain.decoding, { numBeams: 3, maxNewTokens: 1024, earlyStopping: true, lengthPenalty: 1, noRepeatNgramSize: 3 });
  });
});
