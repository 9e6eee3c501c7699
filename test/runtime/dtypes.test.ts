import { strict as assert } from "node:assert";
import { MODULES, onnxFilePath, resolveDtypes } from "../../src/runtime/dtypes";

describe("dtypes", () => {
  it("maps dtypes to the export's file names", () => {
    assert.equal(onnxFilePath("vision_encoder", "fp32"), "onnx/vision_encoder.onnx");
    assert.equal(onnxFilePath("decoder_model_merged", "q8"), "onnx/decoder_model_merged_quantized.onnx");
    assert.equal(onnxFilePath("embed_tokens", "fp16"), "onnx/embed_tokens_fp16.onnx");
    assert.equal(onnxFilePath("encoder_model", "q4f16"), "onnx/encoder_model_q4f16.onnx");
  });

  it("expands one dtype to every module and defaults to fp32", () => {
    assert.deepEqual(resolveDtypes(), Object.fromEntries(MODULES.map((m) => [m, "fp32"])));
    assert.deepEqual(Object.values(resolveDtypes("q8")), ["q8", "q8", "q8", "q8"]);
  });

  it("takes a dtype per module, the rest fp32", () => {
    assert.deepEqual(resolveDtypes({ encoder_model: "q4", decoder_model_merged: "q4" }), {
      vision_encoder: "fp32", embed_tokens: "fp32", encoder_model: "q4", decoder_model_merged: "q4",
    });
  });

  it("rejects unknown dtypes and modules, naming the valid ones", () => {
    assert.throws(() => resolveDtypes("int4" as never), /Unsupported dtype "int4"\. Expected one of: fp32, fp16, q8/);
    assert.throws(() => resolveDtypes({ decoder: "fp16" } as never), /unknown module "decoder"\. Expected modules: vision_encoder/);
    assert.throws(() => resolveDtypes({ vision_encoder: "fp64" } as never), /Unsupported dtype "fp64" for vision_encoder/);
  });
});
