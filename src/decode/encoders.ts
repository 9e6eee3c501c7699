/**
 * The two encoders that run before the decoder loop:
 *
 *   pixel_values [1, 3, 768, 768] --vision_encoder--> image features [1, 577, D]         (once per image)
 *   [image features ; embed_tokens(prompt ids)] --encoder_model--> hidden states [B, S, D] (once per request)
 *
 * Florence-2 puts the image tokens first and the prompt after them (`_merge_input_ids_with_image_features` in
 * Microsoft's modeling_florence2.py). For a batch, the encoder states of prompts of different lengths are padded
 * on the right, after their own tokens, and the attention mask (1 = real, 0 = padding) goes to the decoder as
 * `encoder_attention_mask`, so its cross-attention ignores the padding: each row computes what it would compute
 * alone, up to float rounding.
 */
import * as ort from "onnxruntime-node";
import { toFloatType, floatTensor, type FloatData, type FloatType, type Florence2Sessions } from "../runtime/sessions";

/** pixel_values [1, 3, 768, 768] -> image_features [1, 577, D], in the vision encoder's output type. */
export async function runVisionEncoder(sessions: Florence2Sessions, pixelValues: Float32Array, dims: readonly number[]): Promise<ort.Tensor> {
  const { session, types } = sessions.vision;
  const input = floatTensor(types.inputs.pixel_values, pixelValues, dims);
  try {
    const out = await session.run({ pixel_values: input });
    return out.image_features as ort.Tensor;
  } finally {
    input.dispose();
  }
}

/** ids [B, T] (row-major) -> inputs_embeds [B, T, D] data, converted to `type`. */
export async function embedTokens(sessions: Florence2Sessions, ids: ArrayLike<number>, dims: readonly number[], type: FloatType): Promise<FloatData> {
  const input = new ort.Tensor("int64", BigInt64Array.from(Array.from(ids), (v) => BigInt(v)), dims);
  try {
    const out = await sessions.embed.session.run({ input_ids: input });
    const embeds = out.inputs_embeds as ort.Tensor;
    return toFloatType(embeds.data as FloatData, type);
  } finally {
    input.dispose();
  }
}

/** One prompt for the text encoder: the image it is about and its token ids (`<s>` ... `</s>`). */
export interface PromptToEncode {
  /** [1, 577, D] from the vision encoder. */
  imageFeatures: ort.Tensor;
  promptIds: readonly number[];
}

/**
 * The text encoder's output for a batch of prompts, ready for the decoder. The caller owns both tensors
 * (DecoderStep takes them over and disposes them).
 */
export interface EncodedPrompts {
  /** [B, S, D] in the decoder's `encoder_hidden_states` element type; S = 577 + the longest prompt. */
  hiddenStates: ort.Tensor;
  /** [B, S] int64: 1 over each row's image and prompt tokens, 0 over its padding. */
  attentionMask: ort.Tensor;
}

/**
 * Encodes each prompt with its image, then stacks the results right-padded to the longest for the decoder.
 *
 * One prompt per encoder_model run rather than one padded batch, because it measured faster (the 14 walkthrough
 * prompts on the base-size stand-in, fp32: one by one took about 0.6 of the batch's time; test/bench/RESULTS.md
 * has the encoder's current per-run figures). The encoder's self-attention over ~590 positions is large
 * per row, and a batch of them no longer fits the caches; the weights (~170 MB) are read once per run either
 * way. A side benefit: each row's encoder states are bit for bit those of the prompt encoded alone.
 */
export async function encodePrompts(sessions: Florence2Sessions, prompts: readonly PromptToEncode[]): Promise<EncodedPrompts> {
  if (prompts.length === 0) throw new Error("encodePrompts needs at least one prompt.");
  const B = prompts.length;
  const [, imageTokens, D] = prompts[0].imageFeatures.dims;
  const S = imageTokens + Math.max(...prompts.map((p) => p.promptIds.length));
  const decoderType = sessions.decoder.types.inputs.encoder_hidden_states;
  const hidden = decoderType === "float16" ? new Uint16Array(B * S * D) : new Float32Array(B * S * D); // [B, S, D]
  const mask = new BigInt64Array(B * S); // [B, S]
  for (let b = 0; b < B; b++) {
    const { imageFeatures, promptIds } = prompts[b];
    const { dims } = imageFeatures;
    if (dims[0] !== 1 || dims[1] !== imageTokens || dims[2] !== D) {
      throw new Error(`Expected image features [1, ${imageTokens}, ${D}] for every prompt but prompt ${b} has [${dims.join(", ")}].`);
    }
    const rowLength = imageTokens + promptIds.length;
    hidden.set(toFloatType(await encodeOne(sessions, imageFeatures, promptIds), decoderType), b * S * D);
    mask.fill(1n, b * S, b * S + rowLength);
  }
  return { hiddenStates: new ort.Tensor(decoderType, hidden, [B, S, D]), attentionMask: new ort.Tensor("int64", mask, [B, S]) };
}

/**
 * The text encoder over [image tokens ; prompt tokens] of one prompt: features [1, 577, D] and ids [L] ->
 * last_hidden_state [1, 577 + L, D] data.
 */
async function encodeOne(sessions: Florence2Sessions, imageFeatures: ort.Tensor, promptIds: readonly number[]): Promise<FloatData> {
  const [, imageTokens, D] = imageFeatures.dims;
  const L = promptIds.length;
  const S = imageTokens + L;
  const encoderType = sessions.encoder.types.inputs.inputs_embeds;
  const promptEmbeds = await embedTokens(sessions, promptIds, [1, L], encoderType);
  const merged = encoderType === "float16" ? new Uint16Array(S * D) : new Float32Array(S * D); // [1, S, D]
  merged.set(toFloatType(imageFeatures.data as FloatData, encoderType), 0);
  merged.set(promptEmbeds, imageTokens * D);
  const inputsEmbeds = new ort.Tensor(encoderType, merged, [1, S, D]);
  const attentionMask = new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]);
  try {
    const out = await sessions.encoder.session.run({ inputs_embeds: inputsEmbeds, attention_mask: attentionMask });
    const hidden = out.last_hidden_state as ort.Tensor;
    const data = hidden.data as FloatData;
    hidden.dispose();
    return data;
  } finally {
    inputsEmbeds.dispose();
    attentionMask.dispose();
  }
}
