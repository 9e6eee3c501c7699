import { strict as assert } from "node:assert";
import { cacheTensors } from "../../src/runtime/cache-tensors";

describe("cache-tensors", () => {
  it("names the merged decoder's cache inputs and outputs as the onnx-community export does, in its order", () => {
    const tensors = cacheTensors(2);
    const parts = ["decoder.key", "decoder.value", "encoder.key", "encoder.value"];
    assert.deepEqual(tensors.map((t) => t.past), [0, 1].flatMap((i) => parts.map((p) => `past_key_values.${i}.${p}`)));
    assert.deepEqual(tensors.map((t) => t.present), [0, 1].flatMap((i) => parts.map((p) => `present.${i}.${p}`)));
    assert.deepEqual(tensors[3], { layer: 0, attention: "encoder", kv: "value", past: "past_key_values.0.encoder.value", present: "present.0.encoder.value" });
    assert.equal(cacheTensors(6).length, 24);
  });
});
