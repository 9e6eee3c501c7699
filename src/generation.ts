/**
 * Florence-2's encoder-decoder generation on the four sessions (SPEC.md §2): the vision encoder and the text
 * encoder run once, then the merged decoder runs one token per step with its KV cache, choosing tokens by
 * greedy or beam search with HF v4.44's rules (logits.ts, beam-search.ts).
 *
 * Cache layout, per decoder layer i (B = beams, H heads, Dh = D/H, S = 577 + prompt length):
 *   past_key_values.i.decoder.{key,value}  [B, H, P, Dh]  self-attention, grows by one per step
 *   past_key_values.i.encoder.{key,value}  [B, H, S, Dh]  cross-attention, computed at step 0 and reused
 * Step 0 runs the decoder's no-cache branch (use_cache_branch = false, empty past tensors); later steps the cache
 * branch. In the cache branch `present.i.encoder.*` only echo the past, so they are not even fetched.
 */
import * as ort from "onnxruntime-node";
import { BeamSearch, type EarlyStopping } from "./beam-search";
import type { GenerationConfig } from "./config";
import { LogitsProcessor, argmax } from "./logits";
import { float16ToFloat32, floatTensor, toFloatType, type FloatData, type FloatType, type Florence2Sessions } from "./sessions";

export interface GenerateOptions {
  /** 1 = greedy search; more = beam search with that many beams. */
  numBeams: number;
  /** Generated tokens at most, the final `</s>` included (capped by the model's decoder positions). */
  maxNewTokens: number;
  earlyStopping: EarlyStopping;
  lengthPenalty: number;
  /** 0 turns the n-gram ban off. */
  noRepeatNgramSize: number;
  /** Checked before every decoder step; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after every step with the sequence so far (the best live beam), start token included. */
  onToken?: (ids: readonly number[]) => void;
}

/** The text encoder's output, ready for the decoder. */
export interface EncoderOutput {
  /** [1, S, D] in the decoder's `encoder_hidden_states` element type. */
  hiddenStates: ort.Tensor;
  /** [1, S] int64 ones: one prompt, no padding. */
  attentionMask: ort.Tensor;
}

export interface GenerationStats {
  /** Decoder steps run (= generated tokens). */
  steps: number;
  /** Wall time of the whole decoder loop. */
  decoderMs: number;
  /** Of which inside session.run (decoder and embed_tokens). */
  sessionMs: number;
  /** Of which choosing tokens: logits conversion, processors, greedy or beam bookkeeping. */
  searchMs: number;
  /** Of which tiling the cache for the beams after step 0 and copying cache rows between beams. */
  cacheMs: number;
  /** Batch rows of the self-attention cache copied because several beams continued the same beam. */
  cacheRowCopies: number;
}

export interface GenerationResult {
  /** Start token, generated tokens, final `</s>` (when it fits in maxNewTokens). */
  ids: number[];
  /** Beam search: the chosen hypothesis' length-normalised score; greedy: null. */
  score: number | null;
  stats: GenerationStats;
}

/** Which special tokens generation uses (generation_config.json). */
export type GenerationTokens = Pick<
  GenerationConfig,
  "decoderStartTokenId" | "eosTokenId" | "forcedBosTokenId" | "forcedEosTokenId"
>;

// ---------------------------------------------------------------------------------------------------------------
// Encoders

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

/** input_ids [B, T] -> inputs_embeds [B, T, D] data, converted to `type`. */
async function embedTokens(sessions: Florence2Sessions, ids: ArrayLike<number>, dims: readonly number[], type: FloatType): Promise<FloatData> {
  const input = new ort.Tensor("int64", BigInt64Array.from(Array.from(ids), (v) => BigInt(v)), dims);
  try {
    const out = await sessions.embed.session.run({ input_ids: input });
    const embeds = out.inputs_embeds as ort.Tensor;
    return toFloatType(embeds.data as FloatData, type);
  } finally {
    input.dispose();
  }
}

/**
 * The text encoder over [image tokens ; prompt tokens] (image first, as the reference merges them).
 * `imageFeatures` [1, 577, D], `promptIds` the tokenizer's ids with `<s>` ... `</s>`.
 */
export async function runTextEncoder(
  sessions: Florence2Sessions,
  imageFeatures: ort.Tensor,
  promptIds: readonly number[],
): Promise<EncoderOutput> {
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
    const decoderType = sessions.decoder.types.inputs.encoder_hidden_states;
    const hiddenStates = hidden.type === decoderType ? hidden : floatTensor(decoderType, hidden.data as FloatData, hidden.dims);
    return { hiddenStates, attentionMask };
  } catch (err) {
    attentionMask.dispose();
    throw err;
  } finally {
    inputsEmbeds.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Token choice

/** What a search strategy decided at one step; see BeamStep. */
interface SearchStep {
  sourceBeams: Int32Array;
  tokens: Int32Array;
}

interface Search {
  readonly sequences: number[][];
  readonly isFinished: boolean;
  step(logits: Float32Array, processor: LogitsProcessor, rowOfBeam: ArrayLike<number>): SearchStep;
  finalize(): { ids: number[]; score: number | null };
}

/** HF greedy search (`_sample` without sampling): processors on the raw logits, then argmax; stops after EOS. */
export class GreedySearch implements Search {
  readonly sequences: number[][];
  private readonly promptLength: number;

  constructor(
    decoderPrompt: readonly number[],
    private readonly vocabSize: number,
    private readonly eosTokenId: number,
    private readonly maxLength: number,
  ) {
    this.sequences = [[...decoderPrompt]];
    this.promptLength = decoderPrompt.length;
  }

  get isFinished(): boolean {
    const ids = this.sequences[0];
    return ids.length >= this.maxLength || (ids.length > this.promptLength && ids[ids.length - 1] === this.eosTokenId);
  }

  /** Edits the first row of `logits` in place. */
  step(logits: Float32Array, processor: LogitsProcessor): SearchStep {
    const row = logits.subarray(0, this.vocabSize);
    processor.apply(row, this.sequences[0]);
    const token = argmax(row);
    this.sequences[0].push(token);
    return { sourceBeams: new Int32Array([0]), tokens: new Int32Array([token]) };
  }

  finalize(): { ids: number[]; score: null } {
    return { ids: [...this.sequences[0]], score: null };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cache helpers

type TensorData = Float32Array | Uint16Array | BigInt64Array;

/** Repeats a batch-1 tensor B times along the batch axis: [1, ...] -> [B, ...]. */
export function tileBatch(tensor: ort.Tensor, batch: number): ort.Tensor {
  const data = tensor.data as TensorData;
  const out = new (data.constructor as { new (n: number): TensorData })(data.length * batch);
  for (let b = 0; b < batch; b++) (out as Float32Array).set(data as Float32Array, b * data.length);
  return new ort.Tensor(tensor.type, out, [batch, ...tensor.dims.slice(1)]);
}

/**
 * Which batch row holds each beam's decoder cache after a beam step, and the row copies that takes.
 *
 * The decoder doesn't care in which batch row a beam sits, as long as its token and its cache share the row,
 * so the cache is never reordered: a new beam that continues an old beam takes over that beam's row, and only
 * when several new beams continue the same old beam do the extra ones get a copy, written over the row of an
 * old beam that nobody continued. That is B - (distinct sources) row copies per step, the fewest possible;
 * a permutation of the beams costs none.
 */
export function assignCacheRows(rowOfBeam: ArrayLike<number>, sourceBeams: ArrayLike<number>): { rowOfBeam: Int32Array; copies: [from: number, to: number][] } {
  const B = sourceBeams.length;
  const next = new Int32Array(B).fill(-1);
  const taken = new Uint8Array(B);
  for (let i = 0; i < B; i++) {
    const row = rowOfBeam[sourceBeams[i]];
    if (!taken[row]) {
      taken[row] = 1;
      next[i] = row;
    }
  }
  const copies: [number, number][] = [];
  let free = 0;
  for (let i = 0; i < B; i++) {
    if (next[i] >= 0) continue;
    while (taken[free]) free++;
    taken[free] = 1;
    next[i] = free;
    copies.push([rowOfBeam[sourceBeams[i]], free]);
  }
  return { rowOfBeam: next, copies };
}

function decoderCacheNames(layers: number, part: "decoder" | "encoder"): { past: string[]; present: string[] } {
  const past: string[] = [];
  const present: string[] = [];
  for (let i = 0; i < layers; i++) {
    for (const kv of ["key", "value"]) {
      past.push(`past_key_values.${i}.${part}.${kv}`);
      present.push(`present.${i}.${part}.${kv}`);
    }
  }
  return { past, present };
}

/** Moves the beams to their cache rows after a step, copying rows where beams split (see assignCacheRows). */
function followBeams(rowOfBeam: Int32Array, sourceBeams: Int32Array, selfCache: ort.Tensor[], stats: GenerationStats): { rowOfBeam: Int32Array } {
  const assigned = assignCacheRows(rowOfBeam, sourceBeams);
  if (assigned.copies.length > 0) {
    const t0 = performance.now();
    const B = rowOfBeam.length;
    for (const tensor of selfCache) {
      const data = tensor.data as FloatData; // [B, H, P, Dh]: one contiguous block per row
      const block = data.length / B;
      for (const [from, to] of assigned.copies) data.copyWithin(to * block, from * block, (from + 1) * block);
    }
    stats.cacheRowCopies += assigned.copies.length;
    stats.cacheMs += performance.now() - t0;
  }
  return assigned;
}

function disposeAll(tensors: Iterable<ort.Tensor | undefined>): void {
  for (const t of tensors) t?.dispose();
}

// ---------------------------------------------------------------------------------------------------------------
// The decoder loop

/**
 * maxNewTokens capped to the decoder's learned positions: the last generated token is predicted from position
 * maxNewTokens - 1, so 1024 fits Florence-2-base's 1024 positions exactly (the walkthrough's setting).
 */
export function decoderLengthLimit(maxNewTokens: number, maxPositions: number): number {
  return Math.min(maxNewTokens, maxPositions);
}

/** Runs the decoder loop on an encoded prompt and returns the chosen ids. */
export async function generate(
  sessions: Florence2Sessions,
  encoded: EncoderOutput,
  tokens: GenerationTokens,
  maxPositions: number,
  options: GenerateOptions,
): Promise<GenerationResult> {
  const started = performance.now();
  const stats: GenerationStats = { steps: 0, decoderMs: 0, sessionMs: 0, searchMs: 0, cacheMs: 0, cacheRowCopies: 0 };
  const { numBeams, signal, onToken } = options;
  signal?.throwIfAborted();
  const maxNewTokens = decoderLengthLimit(options.maxNewTokens, maxPositions);
  const decoderPrompt = [tokens.decoderStartTokenId];
  const maxLength = decoderPrompt.length + maxNewTokens;
  const processor = new LogitsProcessor({
    noRepeatNgramSize: options.noRepeatNgramSize,
    forcedBosTokenId: tokens.forcedBosTokenId,
    forcedEosTokenId: tokens.forcedEosTokenId,
    maxLength,
  });

  const { decoder, heads: H, headDim: Dh, decoderLayers } = sessions;
  const inputTypes = decoder.types.inputs;
  const selfCache = decoderCacheNames(decoderLayers, "decoder");
  const crossCache = decoderCacheNames(decoderLayers, "encoder");
  const laterFetches = ["logits", ...selfCache.present];

  const vocabSize = sessions.vocabSize;
  const search: Search =
    numBeams > 1
      ? new BeamSearch(
          { numBeams, vocabSize, eosTokenId: tokens.eosTokenId, lengthPenalty: options.lengthPenalty, earlyStopping: options.earlyStopping, maxLength },
          decoderPrompt,
        )
      : new GreedySearch(decoderPrompt, vocabSize, tokens.eosTokenId, maxLength);
  const logitsScratch: { buffer?: Float32Array } = {};
  // Batch row of each live beam's cache (see assignCacheRows); step 0 serves all beams from row 0.
  let rowOfBeam: Int32Array = new Int32Array(numBeams);

  // Tensors this call owns; everything is released in `finally`, whatever happens.
  let hiddenStates = encoded.hiddenStates;
  let attentionMask = encoded.attentionMask;
  let selfPast: ort.Tensor[] = [];
  let crossPast: ort.Tensor[] = [];
  const useCacheFalse = new ort.Tensor("bool", new Uint8Array([0]), [1]);
  const useCacheTrue = new ort.Tensor("bool", new Uint8Array([1]), [1]);

  const runDecoder = async (inputIds: Int32Array, batch: number, step0: boolean) => {
    const t0 = performance.now();
    const embeds = await embedTokens(sessions, inputIds, [batch, 1], inputTypes.inputs_embeds);
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor(inputTypes.inputs_embeds, embeds, [batch, 1, embeds.length / batch]),
      encoder_hidden_states: hiddenStates,
      encoder_attention_mask: attentionMask,
      use_cache_branch: step0 ? useCacheFalse : useCacheTrue,
    };
    const empty = (name: string) => new ort.Tensor(inputTypes[name], inputTypes[name] === "float16" ? new Uint16Array(0) : new Float32Array(0), [batch, H, 0, Dh]);
    selfCache.past.forEach((name, i) => (feeds[name] = step0 ? empty(name) : selfPast[i]));
    crossCache.past.forEach((name, i) => (feeds[name] = step0 ? empty(name) : crossPast[i]));
    try {
      const out = step0 ? await decoder.session.run(feeds) : await decoder.session.run(feeds, laterFetches);
      stats.sessionMs += performance.now() - t0;
      return out as Record<string, ort.Tensor>;
    } finally {
      feeds.inputs_embeds.dispose();
      if (step0) disposeAll([...selfCache.past, ...crossCache.past].map((n) => feeds[n]));
    }
  };

  const chooseTokens = (logitsTensor: ort.Tensor): SearchStep => {
    const t0 = performance.now();
    if (logitsTensor.dims[2] !== vocabSize) {
      throw new Error(`${decoder.file} returned logits ${JSON.stringify(logitsTensor.dims)}; expected ${vocabSize} (vocab_size in config.json) in the last dim.`);
    }
    let logits: Float32Array;
    if (logitsTensor.type === "float16") {
      const half = logitsTensor.data as Uint16Array;
      if (!logitsScratch.buffer || logitsScratch.buffer.length !== half.length) logitsScratch.buffer = new Float32Array(half.length);
      logits = float16ToFloat32(half, logitsScratch.buffer);
    } else {
      logits = logitsTensor.data as Float32Array;
    }
    logitsTensor.dispose();
    const step = search.step(logits, processor, rowOfBeam);
    stats.searchMs += performance.now() - t0;
    stats.steps++;
    onToken?.(search.sequences[0].slice());
    return step;
  };

  try {
    // Step 0 at batch 1 even for beams: all beams hold the same start token, so one row serves them all.
    const first = await runDecoder(new Int32Array(decoderPrompt.slice(-1)), 1, true);
    selfPast = selfCache.present.map((n) => first[n]);
    crossPast = crossCache.present.map((n) => first[n]);
    let step = chooseTokens(first.logits);
    if (numBeams > 1 && !search.isFinished) {
      const t0 = performance.now();
      const tile = (list: ort.Tensor[]) =>
        list.map((t) => {
          const tiled = tileBatch(t, numBeams);
          t.dispose();
          return tiled;
        });
      selfPast = tile(selfPast);
      crossPast = tile(crossPast);
      hiddenStates = tileBatch(encoded.hiddenStates, numBeams);
      attentionMask = tileBatch(encoded.attentionMask, numBeams);
      rowOfBeam = Int32Array.from({ length: numBeams }, (_, b) => b);
      stats.cacheMs += performance.now() - t0;
    }
    const inputIds = new Int32Array(numBeams);
    while (!search.isFinished) {
      signal?.throwIfAborted();
      ({ rowOfBeam } = followBeams(rowOfBeam, step.sourceBeams, selfPast, stats));
      for (let i = 0; i < numBeams; i++) inputIds[rowOfBeam[i]] = step.tokens[i];
      const out = await runDecoder(inputIds, numBeams, false);
      disposeAll(selfPast);
      selfPast = selfCache.present.map((n) => out[n]);
      step = chooseTokens(out.logits);
    }
    const { ids, score } = search.finalize();
    stats.decoderMs = performance.now() - started;
    return { ids, score, stats };
  } finally {
    disposeAll(selfPast);
    disposeAll(crossPast);
    if (hiddenStates !== encoded.hiddenStates) hiddenStates.dispose();
    if (attentionMask !== encoded.attentionMask) attentionMask.dispose();
    useCacheFalse.dispose();
    useCacheTrue.dispose();
  }
}
