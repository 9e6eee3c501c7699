/**
 * decoder_model_merged with its KV cache, for a batch of rows: what one decoder step needs and keeps.
 *
 * Per batch row r (a greedy request, or one beam of a beam-search request), with H heads, Dh = D / H, P past
 * tokens and S encoder positions, every tensor below holds row r at index r of its first axis:
 *   self-attention cache   past_key_values.i.decoder.{key,value}  [R, H, P, Dh]  grows by one per step
 *   cross-attention cache  past_key_values.i.encoder.{key,value}  [R, H, S, Dh]  computed at step 0, then reused
 *   encoder_hidden_states [R, S, D] and encoder_attention_mask [R, S]            the text encoder's, per row
 * Step 0 runs the decoder's no-cache branch (use_cache_branch = false, empty past tensors), which computes the
 * cross-attention cache; later steps run the cache branch and fetch only the logits and the self-attention cache
 * (the export answers present.i.encoder.* there with empty constants).
 *
 * The export's decoder has no self-attention mask, so all rows share one past length: rows that join must start
 * together (the generation loop runs requests in waves). Rows can be repeated (a beam-search request gets a row
 * per beam after step 0), copied (beams that continue the same beam) and removed (finished requests).
 */
import * as ort from "onnxruntime-node";
import { embedTokens } from "./encoders";
import type { EncodedPrompts } from "./encoders";
import { cacheTensors } from "../runtime/cache-tensors";
import { float16ToFloat32 } from "../runtime/float16";
import type { FloatData, Florence2Sessions } from "../runtime/sessions";

type RowData = Float32Array | Uint16Array | BigInt64Array;

/** Where the decoder's time went, summed over the steps so far. */
export interface DecoderStepStats {
  /** Inside session.run: embed_tokens and the decoder. */
  sessionMs: number;
  /** Repeating, copying and removing rows. */
  rowMs: number;
  /** Rows copied because several beams continued the same beam. */
  rowCopies: number;
}

export class DecoderStep {
  /** Batch rows (R above). */
  rows: number;
  /** Tokens in the self-attention cache (P above): the steps run so far. */
  pastLength = 0;
  readonly stats: DecoderStepStats = { sessionMs: 0, rowMs: 0, rowCopies: 0 };

  private hiddenStates: ort.Tensor;
  private attentionMask: ort.Tensor;
  /** Per cache tensor (cacheTensors order, self-attention ones): [R, H, P, Dh]; empty before step 0. */
  private selfCache: ort.Tensor[] = [];
  /** The cross-attention ones: [R, H, S, Dh]; empty before step 0. */
  private crossCache: ort.Tensor[] = [];
  private readonly selfNames;
  private readonly crossNames;
  private readonly fetchesAfterStep0: string[];
  private readonly useCache = new ort.Tensor("bool", new Uint8Array([1]), [1]);
  private readonly noCache = new ort.Tensor("bool", new Uint8Array([0]), [1]);
  private logitsScratch = new Float32Array(0);
  private disposed = false;

  /** Takes over `encoded` (one row per prompt) and disposes it with the cache. */
  constructor(
    private readonly sessions: Florence2Sessions,
    encoded: EncodedPrompts,
  ) {
    this.hiddenStates = encoded.hiddenStates;
    this.attentionMask = encoded.attentionMask;
    this.rows = encoded.hiddenStates.dims[0];
    const names = cacheTensors(sessions.decoderLayers);
    this.selfNames = names.filter((n) => n.attention === "decoder");
    this.crossNames = names.filter((n) => n.attention === "encoder");
    this.fetchesAfterStep0 = ["logits", ...this.selfNames.map((n) => n.present)];
  }

  /**
   * One decoder step: `tokens[r]` is row r's last token. Returns the logits [R, V] as float32 (a buffer reused by
   * the next step for float16 models: read it before stepping again).
   */
  async run(tokens: ArrayLike<number>): Promise<Float32Array> {
    if (this.disposed) throw new Error("DecoderStep.run called after dispose.");
    const R = this.rows;
    if (tokens.length !== R) throw new Error(`Expected one token per batch row (${R}) but received ${tokens.length}.`);
    const { decoder, heads: H, headDim: Dh, vocabSize: V } = this.sessions;
    const types = decoder.types.inputs;
    const step0 = this.pastLength === 0;
    const started = performance.now();
    const embeds = await embedTokens(this.sessions, tokens, [R, 1], types.inputs_embeds);
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor(types.inputs_embeds, embeds, [R, 1, embeds.length / R]),
      encoder_hidden_states: this.hiddenStates,
      encoder_attention_mask: this.attentionMask,
      use_cache_branch: step0 ? this.noCache : this.useCache,
    };
    // Step 0 feeds empty caches [R, H, 0, Dh]; the no-cache branch ignores them.
    const emptyPast: ort.Tensor[] = [];
    const empty = (name: string) => {
      const tensor = new ort.Tensor(types[name], types[name] === "float16" ? new Uint16Array(0) : new Float32Array(0), [R, H, 0, Dh]);
      emptyPast.push(tensor);
      return tensor;
    };
    this.selfNames.forEach((n, i) => (feeds[n.past] = step0 ? empty(n.past) : this.selfCache[i]));
    this.crossNames.forEach((n, i) => (feeds[n.past] = step0 ? empty(n.past) : this.crossCache[i]));
    let out: ort.InferenceSession.ReturnType;
    try {
      out = step0 ? await decoder.session.run(feeds) : await decoder.session.run(feeds, this.fetchesAfterStep0);
    } finally {
      feeds.inputs_embeds.dispose();
      for (const t of emptyPast) t.dispose();
    }
    this.stats.sessionMs += performance.now() - started;

    const logits = out.logits as ort.Tensor;
    if (logits.dims.length !== 3 || logits.dims[0] !== R || logits.dims[2] !== V) {
      for (const t of Object.values(out)) t.dispose();
      throw new Error(`${decoder.file} returned logits [${logits.dims.join(", ")}]; expected [${R}, 1, ${V}] (vocab_size in config.json).`);
    }
    for (const t of this.selfCache) t.dispose();
    this.selfCache = this.selfNames.map((n) => out[n.present] as ort.Tensor);
    if (step0) this.crossCache = this.crossNames.map((n) => out[n.present] as ort.Tensor);
    this.pastLength++;
    return this.float32Logits(logits);
  }

  /**
   * Rebuilds the batch so that new row i holds old row `sources[i]` (every per-row tensor): repeats a request's
   * row for its beams after step 0. Any number of rows; allocates new tensors.
   */
  gatherRows(sources: ArrayLike<number>): void {
    const started = performance.now();
    const R = this.rows;
    for (let i = 0; i < sources.length; i++) {
      if (!(Number.isInteger(sources[i]) && sources[i] >= 0 && sources[i] < R)) throw new Error(`gatherRows: row ${sources[i]} is not among the ${R} rows.`);
    }
    if (sources.length === R && Array.from(sources).every((s, i) => s === i)) return; // greedy requests only: nothing moves
    const gather = (t: ort.Tensor) => {
      const data = t.data as RowData;
      const block = data.length / R;
      const out = new (data.constructor as new (n: number) => RowData)(block * sources.length);
      for (let i = 0; i < sources.length; i++) out.set(data.subarray(sources[i] * block, (sources[i] + 1) * block) as never, i * block);
      t.dispose();
      return new ort.Tensor(t.type, out, [sources.length, ...t.dims.slice(1)]);
    };
    this.hiddenStates = gather(this.hiddenStates);
    this.attentionMask = gather(this.attentionMask);
    this.selfCache = this.selfCache.map(gather);
    this.crossCache = this.crossCache.map(gather);
    this.rows = sources.length;
    this.stats.rowMs += performance.now() - started;
  }

  /**
   * Copies the self-attention cache of row `from` over row `to`, in place, for each pair: beams that continue
   * the same beam. Only for rows that share their encoder rows (beams of one request), since the
   * cross-attention cache and the encoder states are not copied.
   */
  copySelfRows(copies: readonly (readonly [from: number, to: number])[]): void {
    if (copies.length === 0) return;
    const started = performance.now();
    for (const tensor of this.selfCache) {
      const data = tensor.data as FloatData; // [R, H, P, Dh]: one contiguous block per row
      const block = data.length / this.rows;
      for (const [from, to] of copies) data.copyWithin(to * block, from * block, (from + 1) * block);
    }
    this.stats.rowCopies += copies.length;
    this.stats.rowMs += performance.now() - started;
  }

  /**
   * Removes rows (finished requests) without reallocating: the last remaining rows move into the holes, then
   * every tensor becomes a view of its first R - removed rows. Returns the new index of every old row (-1 for
   * removed ones), so the caller can follow the rows that moved.
   */
  removeRows(removed: readonly number[]): Int32Array {
    const started = performance.now();
    const R = this.rows;
    const newIndex = Int32Array.from({ length: R }, (_, r) => r);
    for (const r of removed) newIndex[r] = -1;
    const kept = R - new Set(removed).size;
    // Removed rows below `kept` are holes; kept rows at or above `kept` fill them, in order.
    const holes = [...newIndex.keys()].filter((r) => r < kept && newIndex[r] === -1);
    const movers = [...newIndex.keys()].filter((r) => r >= kept && newIndex[r] !== -1);
    movers.forEach((r, k) => (newIndex[r] = holes[k]));
    const shrink = (t: ort.Tensor) => {
      const data = t.data as RowData;
      const block = data.length / R;
      movers.forEach((r, k) => data.copyWithin(holes[k] * block, r * block, (r + 1) * block));
      t.dispose();
      return new ort.Tensor(t.type, data.subarray(0, kept * block) as never, [kept, ...t.dims.slice(1)]);
    };
    this.hiddenStates = shrink(this.hiddenStates);
    this.attentionMask = shrink(this.attentionMask);
    this.selfCache = this.selfCache.map(shrink);
    this.crossCache = this.crossCache.map(shrink);
    this.rows = kept;
    this.stats.rowMs += performance.now() - started;
    return newIndex;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [this.hiddenStates, this.attentionMask, ...this.selfCache, ...this.crossCache, this.useCache, this.noCache]) t.dispose();
    this.selfCache = [];
    this.crossCache = [];
  }

  private float32Logits(logits: ort.Tensor): Float32Array {
    const data = logits.data as FloatData;
    logits.dispose();
    if (data instanceof Float32Array) return data;
    if (this.logitsScratch.length !== data.length) this.logitsScratch = new Float32Array(data.length);
    return float16ToFloat32(data, this.logitsScratch);
  }
}
