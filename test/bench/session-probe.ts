/**
 * Times the raw onnxruntime sessions of a folder under one set of session options, without either library in
 * the way: the vision encoder, the text encoder over 577 + 12 tokens, and decoder steps with a KV cache at
 * batch 1 (greedy) and batch 3 (beams), each step being one embed_tokens run plus one decoder run, as both
 * libraries do it. Runs in a fresh child process per option set, because thread pools and arenas are
 * per-process state.
 */
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { readModelConfig } from "../../src/runtime/config";
import { MODULES, onnxFilePath, type ModuleName } from "../../src/runtime/dtypes";
import { defaultSessionOptions, type SessionOptions } from "../../src/runtime/sessions";
import { peakRssBytes } from "./memory";
import type { ProbeRequest, ProbeResult } from "./protocol";

/** A prompt of typical length (CAPTION's is 9 tokens, OD's 12, the region tasks' up to 17). */
const PROMPT_TOKENS = 12;
const IMAGE_SIDE = 768;
const LONG_PAST = 900;

function optionsFor(module: ModuleName, request: ProbeRequest): SessionOptions {
  const base = request.options.base === "engine" ? defaultSessionOptions(module) : { logSeverityLevel: 3 as const };
  return { ...base, ...request.options.overrides, ...request.options.perModule?.[module] };
}

/** Deterministic, image-like values: the content does not change the cost. */
function filled(length: number): Float32Array {
  const data = new Float32Array(length);
  for (let i = 0; i < length; i++) data[i] = Math.sin(i * 0.001) * 1.5;
  return data;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

function tile(tensor: ort.Tensor, batch: number): ort.Tensor {
  const data = tensor.data as Float32Array | BigInt64Array;
  const out = new (data.constructor as new (n: number) => Float32Array | BigInt64Array)(data.length * batch);
  for (let b = 0; b < batch; b++) (out as Float32Array).set(data as Float32Array, b * data.length);
  return new ort.Tensor(tensor.type, out, [batch, ...tensor.dims.slice(1)]);
}

type Sessions = Record<ModuleName, ort.InferenceSession>;

interface DecoderDims {
  layers: number;
  heads: number;
  headDim: number;
  vocabSize: number;
}

/**
 * Mean time of one decoder step (embed + decoder) over `steps` steps after the no-cache step 0. With
 * `startPast` > 0 the self-attention cache is first replaced by one of that many positions (zeros: the values do
 * not change the cost), which times steps late in a long generation without generating up to there.
 */
async function decoderStepMs(
  sessions: Sessions,
  hidden: ort.Tensor,
  mask: ort.Tensor,
  batch: number,
  steps: number,
  startPast: number,
  { layers, heads, headDim, vocabSize }: DecoderDims,
  preallocatedLogits: boolean,
): Promise<number> {
  const hiddenStates = batch === 1 ? hidden : tile(hidden, batch);
  const attentionMask = batch === 1 ? mask : tile(mask, batch);
  const names = (prefix: string, part: string) =>
    Array.from({ length: layers }, (_, i) => [`${prefix}.${i}.${part}.key`, `${prefix}.${i}.${part}.value`]).flat();
  const selfPast = names("past_key_values", "decoder");
  const crossPast = names("past_key_values", "encoder");
  const selfPresent = names("present", "decoder");
  const crossPresent = names("present", "encoder");
  let past: Record<string, ort.Tensor> = {};
  for (const name of [...selfPast, ...crossPast]) past[name] = new ort.Tensor("float32", new Float32Array(0), [batch, heads, 0, headDim]);
  const logitsBuffer = new ort.Tensor("float32", new Float32Array(batch * vocabSize), [batch, 1, vocabSize]);

  const step = async (first: boolean) => {
    const ids = new ort.Tensor("int64", new BigInt64Array(batch), [batch, 1]);
    const embeds = (await sessions.embed_tokens.run({ input_ids: ids })).inputs_embeds;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: embeds,
      encoder_hidden_states: hiddenStates,
      encoder_attention_mask: attentionMask,
      use_cache_branch: new ort.Tensor("bool", new Uint8Array([first ? 0 : 1]), [1]),
      ...past,
    };
    // Later steps fetch only what they use (the cross-attention cache from step 0 is kept), as the engine does.
    const fetchNames = first ? ["logits", ...selfPresent, ...crossPresent] : ["logits", ...selfPresent];
    const fetches: Record<string, ort.Tensor | null> = Object.fromEntries(fetchNames.map((n) => [n, null]));
    if (preallocatedLogits) fetches.logits = logitsBuffer;
    const out = await sessions.decoder_model_merged.run(feeds, fetches);
    const next: Record<string, ort.Tensor> = {};
    selfPast.forEach((name, i) => (next[name] = out[selfPresent[i]]));
    crossPast.forEach((name, i) => (next[name] = first ? out[crossPresent[i]] : past[name]));
    past = next;
  };

  await step(true);
  if (startPast > 0) {
    for (const name of selfPast) past[name] = new ort.Tensor("float32", new Float32Array(batch * heads * startPast * headDim), [batch, heads, startPast, headDim]);
  }
  const start = performance.now();
  for (let s = 0; s < steps; s++) await step(false);
  return (performance.now() - start) / steps;
}

export async function probeSessions(request: ProbeRequest): Promise<ProbeResult> {
  const config = readModelConfig(request.folder);
  const loadStart = performance.now();
  const sessions = {} as Sessions;
  for (const module of MODULES) {
    const file = path.join(request.folder, onnxFilePath(module, request.dtype));
    sessions[module] = await ort.InferenceSession.create(file, optionsFor(module, request));
  }
  const loadMs = performance.now() - loadStart;
  try {
    const pixels = new ort.Tensor("float32", filled(3 * IMAGE_SIDE * IMAGE_SIDE), [1, 3, IMAGE_SIDE, IMAGE_SIDE]);
    const visionMs: number[] = [];
    let features: ort.Tensor | undefined;
    for (let r = 0; r <= request.repeats; r++) {
      const { value, ms } = await timed(() => sessions.vision_encoder.run({ pixel_values: pixels }));
      features = value.image_features;
      if (r > 0) visionMs.push(ms); // the first run is the warm-up
    }
    const imageFeatures = features as ort.Tensor;
    const [, imageTokens, D] = imageFeatures.dims;
    const S = imageTokens + PROMPT_TOKENS;
    const merged = new Float32Array(S * D);
    merged.set(imageFeatures.data as Float32Array);
    merged.set(filled(PROMPT_TOKENS * D), imageTokens * D);
    const embeds = new ort.Tensor("float32", merged, [1, S, D]);
    const mask = new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]);
    const encoderMs: number[] = [];
    let hidden: ort.Tensor | undefined;
    for (let r = 0; r <= request.repeats; r++) {
      const { value, ms } = await timed(() => sessions.encoder_model.run({ inputs_embeds: embeds, attention_mask: mask }));
      hidden = value.last_hidden_state;
      if (r > 0) encoderMs.push(ms);
    }
    const dims: DecoderDims = {
      layers: config.decoderLayers,
      heads: config.decoderAttentionHeads,
      headDim: config.dModel / config.decoderAttentionHeads,
      vocabSize: config.vocabSize,
    };
    // Late steps of a long generation: as far into the decoder's positions as the 1000 tokens reach.
    const longPast = Math.min(LONG_PAST, config.maxPositionEmbeddings - request.decoderSteps - 2);
    const stepMs = async (batch: number, startPast: number, steps: number) => {
      const samples: number[] = [];
      for (let r = 0; r < request.repeats; r++) {
        samples.push(await decoderStepMs(sessions, hidden as ort.Tensor, mask, batch, steps, startPast, dims, request.options.preallocatedLogits));
      }
      return samples;
    };
    const longSteps = Math.max(2, Math.ceil(request.decoderSteps / 4));
    return {
      loadMs,
      visionMs,
      encoderMs,
      decoderStepMsBatch1: await stepMs(1, 0, request.decoderSteps),
      decoderStepMsBatch3: await stepMs(3, 0, request.decoderSteps),
      longPast,
      decoderStepMsBatch1Long: await stepMs(1, longPast, longSteps),
      decoderStepMsBatch3Long: await stepMs(3, longPast, longSteps),
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    for (const module of MODULES) await sessions[module].release();
  }
}
