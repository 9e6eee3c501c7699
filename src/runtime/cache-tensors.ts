/**
 * The decoder's cache tensors (the KV cache of onnx-community's decoder_model_merged.onnx, which optimum's merged
 * decoder names `past_key_values.*` in and `present.*` out): their names are spelled here and nowhere else, for the
 * tensor contract (sessions.ts), the decoder loop (decoder-step.ts) and the stand-in generator (standin/text.ts).
 */

/**
 * One cache tensor of decoder_model_merged, [batch, heads, length, headDim]: layer `layer`'s self-attention
 * ("decoder": length = past tokens, grows by one per step) or cross-attention ("encoder": length = encoder
 * positions, computed at step 0) key or value. The decoder takes it as `past` and returns it as `present`.
 */
export interface CacheTensor {
  layer: number;
  attention: "decoder" | "encoder";
  kv: "key" | "value";
  /** Input name: `past_key_values.{layer}.{attention}.{kv}`. */
  past: string;
  /** Output name: `present.{layer}.{attention}.{kv}`. */
  present: string;
}

/** Every cache tensor of a decoder with `layers` layers, in the export's order (per layer: decoder.key, decoder.value, encoder.key, encoder.value). */
export function cacheTensors(layers: number): CacheTensor[] {
  const tensors: CacheTensor[] = [];
  for (let layer = 0; layer < layers; layer++) {
    for (const attention of ["decoder", "encoder"] as const) {
      for (const kv of ["key", "value"] as const) {
        const name = `${layer}.${attention}.${kv}`;
        tensors.push({ layer, attention, kv, past: `past_key_values.${name}`, present: `present.${name}` });
      }
    }
  }
  return tensors;
}
