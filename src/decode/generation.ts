/**
 * The decoder loop for a batch of requests, with the rules of Hugging Face transformers v4.44 `generate()`
 * (greedy and beam search: search-strategy.ts, beam-search.ts, logits-processors.ts).
 *
 * A wave is a set of requests decoded together: every live row (one per greedy request, one per beam of a
 * beam-search request) goes through one decoder session.run per step (decoder-step.ts), so the decoder reads
 * its weights once per step for all of them. Step 0 runs one row per request (all beams start from the same
 * token); then each beam-search request gets a row per beam, its beams reorder only among its own rows, and a
 * request that finishes leaves the batch with its rows, so later steps cost what the live rows cost. Rows can
 * only join at step 0 (the decoder takes no self-attention mask, so every row must have the same past length):
 * requests beyond `maxBatchRows` run in a later wave (planWaves).
 */
import { DecoderStep } from "./decoder-step";
import type { EncodedPrompts } from "./encoders";
import type { Florence2Sessions } from "../runtime/sessions";
import { createSearchStrategy, type DecodingOptions, type GenerationTokens, type SearchStrategy, type SearchStep } from "./search-strategy";
import { StepClock, emptyGenerationStats, emptyWaveStats, sumOf, type GenerationStats, type WaveStats } from "../run-timings";

export type { DecodingOptions, GenerationTokens } from "./search-strategy";
export { decoderLengthLimit } from "./search-strategy";
export type { GenerationStats, StepsByRows, WaveStats } from "../run-timings";

export interface GenerationResult {
  /** Start token, generated tokens, final `</s>` (when it fits in maxNewTokens). */
  ids: number[];
  /** Beam search: the chosen hypothesis' length-normalised score; greedy: null. */
  score: number | null;
  stats: GenerationStats;
}

export interface WaveOptions {
  /** Checked before every decoder step; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
  /** After every step, for each request that took part: its sequence so far (for beams, the best live beam). */
  onToken?: (ids: readonly number[], request: number) => void;
}

/**
 * Splits requests (by their widths: rows after step 0) into waves of at most `maxBatchRows` rows, in request
 * order. A request wider than `maxBatchRows` runs in a wave of its own.
 */
export function planWaves(widths: readonly number[], maxBatchRows: number): number[][] {
  const waves: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  widths.forEach((width, i) => {
    if (current.length > 0 && rows + width > maxBatchRows) {
      waves.push(current);
      current = [];
      rows = 0;
    }
    current.push(i);
    rows += width;
  });
  if (current.length > 0) waves.push(current);
  return waves;
}

/**
 * Which batch row holds each beam's decoder cache after a beam step, and the row copies that takes; rows are
 * numbered within the request (0 .. numBeams - 1).
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

/** One request inside a wave: its search strategy and the batch rows it owns. */
interface WaveRequest {
  /** Its index in the wave (= its encoder row). */
  index: number;
  search: SearchStrategy;
  /** Batch rows it owns (one at step 0, then `search.width`), in no particular order. */
  rows: Int32Array;
  /** Its sequence b reads and writes `rows[slotOfSequence[b]]`. */
  slotOfSequence: Int32Array;
  stats: GenerationStats;
  /** This step's own work, in ms: token choice and (copyMs) its beams' row copies. */
  ownMs: number;
  copyMs: number;
  /** This step's token choice. */
  chosen?: SearchStep;
}

function rowOfSequence(r: WaveRequest): Int32Array {
  return r.slotOfSequence.map((slot) => r.rows[slot]);
}

/**
 * Decodes one wave: request i is row i of `encoded` (which this takes over and disposes, whatever happens).
 * Returns each request's ids and score, in request order, with the wave's statistics.
 */
export async function generateWave(
  sessions: Florence2Sessions,
  encoded: EncodedPrompts,
  requests: readonly DecodingOptions[],
  tokens: GenerationTokens,
  maxPositions: number,
  options: WaveOptions = {},
): Promise<{ results: GenerationResult[]; stats: WaveStats }> {
  const started = performance.now();
  const cache = new DecoderStep(sessions, encoded);
  try {
    if (encoded.hiddenStates.dims[0] !== requests.length) {
      throw new Error(`Expected one encoded prompt per request (${requests.length}) but received ${encoded.hiddenStates.dims[0]}.`);
    }
    const { signal, onToken } = options;
    const wave: WaveRequest[] = requests.map((o, index) => {
      const search = createSearchStrategy(o, tokens, sessions.vocabSize, maxPositions);
      // Step 0: the request's one row serves all its sequences (beams start identical).
      return { index, search, rows: Int32Array.of(index), slotOfSequence: new Int32Array(search.width), stats: emptyGenerationStats(), ownMs: 0, copyMs: 0 };
    });
    const stats = emptyWaveStats();
    let live = wave;
    let inputs: Int32Array = new Int32Array(wave.length).fill(tokens.decoderStartTokenId);
    while (live.length > 0) {
      signal?.throwIfAborted();
      const clock = new StepClock(cache, live);
      const logits = await cache.run(inputs);
      for (const r of live) chooseTokens(r, logits, onToken);
      const finished = live.filter((r) => r.search.isFinished);
      live = live.filter((r) => !r.search.isFinished);
      if (live.length > 0) rearrangeRows(cache, live, finished);
      inputs = nextInputs(cache, live);
      clock.end(cache, stats);
    }

    const results = wave.map((r) => ({ ...r.search.finalize(), stats: r.stats }));
    stats.decoderMs = performance.now() - started;
    stats.searchMs = sumOf(wave, (r) => r.stats.searchMs);
    stats.cacheMs = cache.stats.rowMs;
    // What no step accounts for (set-up, finalize) is shared equally, so the shares add up to the wave's time.
    const rest = (stats.decoderMs - sumOf(wave, (r) => r.stats.decoderMs)) / wave.length;
    for (const r of wave) r.stats.decoderMs += rest;
    return { results, stats };
  } finally {
    cache.dispose();
  }
}

/** One request's token choice from this step's logits; its own time is its share of the step's work. */
function chooseTokens(r: WaveRequest, logits: Float32Array, onToken: WaveOptions["onToken"]): void {
  const t0 = performance.now();
  r.chosen = r.search.step(logits, rowOfSequence(r));
  r.ownMs = performance.now() - t0;
  r.copyMs = 0;
  r.stats.searchMs += r.ownMs;
  r.stats.steps++;
  onToken?.(r.search.current.slice(), r.index);
}

/**
 * The rows for the next step: after step 0 the requests that go on spread to one row per sequence; later, beams
 * follow the beams they continue and the rows of finished requests are removed.
 */
function rearrangeRows(cache: DecoderStep, live: readonly WaveRequest[], finished: readonly WaveRequest[]): void {
  if (cache.pastLength === 1) {
    spreadAfterStep0(cache, live); // keeps only the rows of requests that go on
    return;
  }
  for (const r of live) followBeams(cache, r);
  if (finished.length > 0) {
    const newIndex = cache.removeRows(finished.flatMap((r) => Array.from(r.rows)));
    for (const r of live) r.rows = r.rows.map((row) => newIndex[row]);
  }
}

/** Each row's next input: the token its sequence just chose. */
function nextInputs(cache: DecoderStep, live: readonly WaveRequest[]): Int32Array {
  const inputs = new Int32Array(cache.rows);
  for (const r of live) rowOfSequence(r).forEach((row, b) => (inputs[row] = (r.chosen as SearchStep).tokens[b]));
  return inputs;
}

/**
 * After step 0, each request that goes on gets a row per sequence, copies of its step-0 row (beams start equal);
 * the rows of requests already done are left out.
 */
function spreadAfterStep0(cache: DecoderStep, live: readonly WaveRequest[]): void {
  const sources: number[] = [];
  for (const r of live) {
    const first = sources.length;
    for (let b = 0; b < r.search.width; b++) sources.push(r.rows[0]);
    r.rows = Int32Array.from({ length: r.search.width }, (_, b) => first + b);
    r.slotOfSequence = Int32Array.from({ length: r.search.width }, (_, b) => b);
  }
  cache.gatherRows(sources);
}

/** Moves a request's beams to the rows of the beams they continue, copying rows where beams split. */
function followBeams(cache: DecoderStep, r: WaveRequest): void {
  if (r.search.width === 1) return;
  const assigned = assignCacheRows(r.slotOfSequence, (r.chosen as SearchStep).sourceBeams);
  r.slotOfSequence = assigned.rowOfBeam;
  if (assigned.copies.length === 0) return;
  const before = cache.stats.rowMs;
  cache.copySelfRows(assigned.copies.map(([from, to]) => [r.rows[from], r.rows[to]] as const));
  r.copyMs = cache.stats.rowMs - before;
  r.ownMs += r.copyMs;
  r.stats.cacheMs += r.copyMs;
  r.stats.cacheRowCopies += assigned.copies.length;
}
