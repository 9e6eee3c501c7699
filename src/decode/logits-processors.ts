/**
 * The logits processors of Hugging Face `generate()` that Florence-2's generation config turns on, with the
 * semantics of transformers v4.44 (`NoRepeatNGramLogitsProcessor`, `ForcedBOSTokenLogitsProcessor` and
 * `ForcedEOSTokenLogitsProcessor` in transformers/generation/logits_process.py, in the order
 * `_get_logits_processor` builds them): NoRepeatNGram(n) -> ForcedBOS -> ForcedEOS.
 *
 * Greedy search runs them on the raw logits; beam search runs them on log-probabilities (log_softmax first),
 * so a banned token is not renormalised away and a forced token gets log-prob 0.
 */

/** A row of scores the processors edit in place (raw logits for greedy, log-probs for beams). */
export type ScoreRow = Float32Array | Float64Array;

export interface LogitsProcessorOptions {
  /** Ban any token that would repeat an n-gram of this size already in the row; 0 turns it off. */
  noRepeatNgramSize: number;
  /** Forced as the first generated token (when the row holds only the start token); null turns it off. */
  forcedBosTokenId: number | null;
  /** Forced when the row is one token short of `maxLength`; null turns it off. */
  forcedEosTokenId: number | null;
  /** Longest decoder sequence, start token included: HF's `max_length` = 1 + max_new_tokens. */
  maxLength: number;
}

export class LogitsProcessor {
  constructor(readonly options: LogitsProcessorOptions) {}

  /**
   * The token every processor after NoRepeatNGram forces at this row length, or -1 when none does.
   * ForcedEOS runs after ForcedBOS, so it wins when both apply (max_new_tokens = 1).
   */
  forcedToken(curLen: number): number {
    const { forcedBosTokenId, forcedEosTokenId, maxLength } = this.options;
    if (forcedEosTokenId !== null && curLen === maxLength - 1) return forcedEosTokenId;
    if (forcedBosTokenId !== null && curLen === 1) return forcedBosTokenId;
    return -1;
  }

  /**
   * Tokens NoRepeatNGram bans for one row (HF `_calc_banned_ngram_tokens`): every token that followed the row's
   * last n-1 tokens somewhere earlier in the row. The row is the full decoder sequence, start token included.
   */
  bannedTokens(ids: ArrayLike<number>): number[] {
    const n = this.options.noRepeatNgramSize;
    const curLen = ids.length;
    if (n <= 0 || curLen + 1 < n) return [];
    const banned: number[] = [];
    const tail = curLen - n + 1; // start of the last n-1 tokens
    // Each complete n-gram ids[j .. j+n-1] lies inside the row; its first n-1 tokens are compared with the tail.
    for (let j = 0; j + n <= curLen; j++) {
      let same = true;
      for (let k = 0; k < n - 1; k++) {
        if (ids[j + k] !== ids[tail + k]) {
          same = false;
          break;
        }
      }
      if (same) banned.push(ids[j + n - 1]);
    }
    return banned;
  }

  /** Runs the processors on one row in HF's order, in place. */
  apply(row: ScoreRow, ids: ArrayLike<number>): void {
    for (const token of this.bannedTokens(ids)) row[token] = -Infinity;
    const forced = this.forcedToken(ids.length);
    if (forced >= 0) {
      // HF builds a fresh row of -inf with 0 at the forced id, so earlier bans can't block it.
      row.fill(-Infinity);
      row[forced] = 0;
    }
  }
}

/** Index of the largest value in `row[start, end)`; the first one among equal maxima, as torch.argmax. */
export function argmax(row: ArrayLike<number>, start = 0, end = row.length): number {
  let best = start;
  let bestValue = row[start];
  for (let i = start + 1; i < end; i++) {
    const v = row[i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best - start;
}

// exp(-j / 64) for j = 0 .. 64*64-1: exp(-x) for x >= 0 is then a table value times a short polynomial.
const EXP_STEPS_PER_UNIT = 64;
/** exp(-x) for x beyond this is below 1.7e-28: negligible in a sum that holds exp(0) = 1. */
export const EXP_NEG_RANGE = 64;
const EXP_TABLE = Float64Array.from({ length: EXP_STEPS_PER_UNIT * EXP_NEG_RANGE }, (_, j) => Math.exp(-j / EXP_STEPS_PER_UNIT));

/**
 * exp(-x) for 0 <= x < EXP_NEG_RANGE, with a relative error below 1e-11.
 *
 * Beam search sums exp over the whole vocabulary (51,289 values) for every beam at every step, and Math.exp
 * made that a tenth of a base-size decoder step. Here exp(-x) = exp(-j/64) * exp(r), with j/64 the grid point
 * at or below x, |r| < 1/64, and exp(r) from its Taylor series to r^4: four times faster than Math.exp.
 * Hot loops that need it live in this file: called across modules (tsx compiles imports to getters), it
 * would cost more than it saves.
 */
export function expNeg(x: number): number {
  const j = (x * EXP_STEPS_PER_UNIT) | 0;
  const r = j / EXP_STEPS_PER_UNIT - x; // (-1/64, 0]
  return EXP_TABLE[j] * (1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24)))));
}

/** What `scanRow` found in one row of logits. */
export interface RowScan {
  /** log(sum(exp(row))): log_softmax(x) = x - lse. */
  lse: number;
  /** How many of the row's best logits were written (min(capacity, row length)). */
  count: number;
}

/**
 * One pass over `logits[offset, offset + length)` for beam search: the row's log-sum-exp (the exp-sum is
 * rescaled whenever the running maximum grows) and its `capacity` largest logits, best first, equal values
 * in increasing index order, written to `values` / `indices`.
 */
export function scanRow(logits: Float32Array, offset: number, length: number, capacity: number, values: Float64Array, indices: Int32Array): RowScan {
  let count = 0;
  let threshold = -Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let v = 0; v < length; v++) {
    const x = logits[offset + v];
    if (x > max) {
      sum = sum > 0 ? sum * Math.exp(max - x) : 0;
      max = x;
    }
    const below = max - x;
    if (below < EXP_NEG_RANGE) sum += expNeg(below);
    if (count < capacity || x > threshold) {
      let pos = count < capacity ? count++ : capacity - 1;
      while (pos > 0 && values[pos - 1] < x) {
        values[pos] = values[pos - 1];
        indices[pos] = indices[pos - 1];
        pos--;
      }
      values[pos] = x;
      indices[pos] = v;
      if (count === capacity) threshold = values[capacity - 1];
    }
  }
  return { lse: max + Math.log(sum), count };
}
