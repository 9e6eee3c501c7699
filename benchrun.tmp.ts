import * as ort from "onnxruntime-node";
const folder = "/tmp/eng-base";
(async () => {
  const dec = await ort.InferenceSession.create(folder + "/onnx/decoder_model_merged.onnx", { intraOpNumThreads: 1, graphOptimizationLevel: "all", enableMemPattern: false });
  const S = 585, H = 12, Dh = 64, P = Number(process.argv[2] ?? 10), B = Number(process.argv[3] ?? 1);
  const f = (n: number) => new Float32Array(n).map(() => Math.random() * 0.1);
  const feeds: Record<string, ort.Tensor> = {
    inputs_embeds: new ort.Tensor("float32", f(B * 768), [B, 1, 768]),
    encoder_hidden_states: new ort.Tensor("float32", f(B * S * 768), [B, S, 768]),
    encoder_attention_mask: new ort.Tensor("int64", new BigInt64Array(B * S).fill(1n), [B, S]),
    use_cache_branch: new ort.Tensor("bool", new Uint8Array([1]), [1]),
  };
  for (let i = 0; i < 6; i++) for (const kv of ["key", "value"]) {
    feeds[`past_key_values.${i}.decoder.${kv}`] = new ort.Tensor("float32", f(B * H * P * Dh), [B, H, P, Dh]);
    feeds[`past_key_values.${i}.encoder.${kv}`] = new ort.Tensor("float32", f(B * H * S * Dh), [B, H, S, Dh]);
  }
  const selfNames = ["logits"]; for (let i = 0; i < 6; i++) for (const kv of ["key", "value"]) selfNames.push(`present.${i}.decoder.${kv}`);
  for (const [name, fetch] of [["all", undefined], ["self", selfNames], ["logits", ["logits"]], ["all", undefined], ["self", selfNames]] as const) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    for (let k = 0; k < 20; k++) fetch ? await dec.run(feeds, fetch as string[]) : await dec.run(feeds);
    const c = process.cpuUsage(c0);
    console.log(name, "wall/run", ((performance.now() - t0) / 20).toFixed(2), "cpu/run", ((c.user + c.system) / 1000 / 20).toFixed(2));
  }
})();
