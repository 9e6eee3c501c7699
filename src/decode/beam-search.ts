/**
 * Beam-search bookkeeping with the semantics of Hugging Face transformers v4.44 (`BeamSearchScorer`,
 * `BeamHypotheses` in transformers/generation/beam_search.py, and the pre-rewrite `_beam_search` loop of
 * generation/utils.py, before huggingface/transformers PR #35802 rewrote it). No tensors
 * here: a step takes the decoder's logits for the live beams and says which beam each new beam continues, so
 * the caller can reorder its decoder cache, and which token it appends.
 *
 * Scores are kept in float64 (the reference's precision); HF's float32 differs by ~1e-6, far below the gaps
 * that decide anything in practice.
 */
import { describeValue } from "../util/describe";
import { LogitsProcessor, scanRow } from "./logits-processors";

/** `true`: stop once `numBeams` hypotheses are finished; `false`: HF's v4.44 heuristic; `"never"`: the exact bound. */
export type EarlyStopping = boolean | "never";

export interface BeamSearchOptions {
  numBeams: number;
  vocabSize: number;
  eosTokenId: number;
  /** Finished hypotheses are ranked by sum_logprobs / generated_len ** lengthPenalty. */
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  /** Longest decoder sequence, start token included (1 + max_new_tokens). */
  maxLength: number;
}

/** One finished hypothesis: the tokens without their EOS, and the length-normalised score. */
export interface Hypothesis {
  tokens: number[];
  score: number;
}

/** The `numBeams` best finished hypotheses (HF `BeamHypotheses`). */
export class BeamHypotheses {
  readonly hypotheses: Hypothesis[] = [];
  worstScore = 1e9;

  constructor(
    readonly numBeams: number,
    readonly lengthPenalty: number,
    readonly earlyStopping: EarlyStopping,
    readonly maxLength: number,
  ) {}

  get size(): number {
    return this.hypotheses.length;
  }

  /** `generatedLen` counts the generated tokens including the EOS, excluding the decoder prompt. */
  add(tokens: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.hypotheses.length < this.numBeams || score > this.worstScore) {
      this.hypotheses.push({ tokens, score });
      if (this.hypotheses.length > this.numBeams) {
        // Python's sorted((score, index)) puts the lower index first among equal scores: that one is deleted.
        let worst = 0;
        for (let i = 1; i < this.hypotheses.length; i++) {
          if (this.hypotheses[i].score < this.hypotheses[worst].score) worst = i;
        }
        this.hypotheses.splice(worst, 1);
        this.worstScore = Math.min(...this.hypotheses.map((h) => h.score));
      } else {
        this.worstScore = Math.min(score, this.worstScore);
      }
    }
  }

  /** Whether no live beam can beat the finished ones any more; `curLen` is the length after this step's token. */
  isDone(bestSumLogprobs: number, curLen: number, decoderPromptLen: number): boolean {
    if (this.hypotheses.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    const denominatorLen =
      this.earlyStopping === "never" && this.lengthPenalty > 0 ? this.maxLength - decoderPromptLen : curLen - decoderPromptLen;
    const highestAttainable = bestSumLogprobs / denominatorLen ** this.lengthPenalty;
    return this.worstScore >= highestAttainable;
  }

  /** The best hypothesis; among equal scores the last added wins (Python's stable `sorted(...)[-1]`). */
  best(): Hypothesis | undefined {
    let best: Hypothesis | undefined;
    for (const h of this.hypotheses) if (best === undefined || h.score >= best.score) best = h;
    return best;
  }
}

/** What one step decided, in the order of the new live beams. */
export interface BeamStep {
  /** For each new beam, the index of the previous beam it continues: its decoder cache is that beam's. */
  sourceBeams: Int32Array;
  /** The token each new beam appends: the decoder's next input. */
  tokens: Int32Array;
}

export interface BeamSearchResult {
  /** The chosen sequence: start token, generated tokens, and EOS. */
  ids: number[];
  /** Its length-normalised score (HF `sequences_scores`). */
  score: number;
}

/** One batch row of HF beam search: `numBeams` live beams that run through the decoder as one batch. */
export class BeamSearch {
  /** The live beams' full sequences, start token included. */
  sequences: number[][];
  /** The live beams' accumulated log-probs. */
  readonly beamScores: Float64Array;
  readonly hypotheses: BeamHypotheses;
  private done = false;
  private readonly decoderPromptLen: number;
  // Top 2*numBeams candidates of a step, best first (flat index = beam * V + token).
  private readonly candidateScores: Float64Array;
  private readonly candidateIndices: Int32Array;
  private candidateCount = 0;
  // One row's best raw logits during offerRow, best first (grown when n-gram bans ask for more).
  private rowValues = new Float64Array(0);
  private rowTokens = new Int32Array(0);

  constructor(
    readonly options: BeamSearchOptions,
    decoderPrompt: readonly number[],
  ) {
    const { numBeams } = options;
    if (!Number.isInteger(numBeams) || numBeams < 1) {
      throw new Error(`Expected a positive integer for numBeams but received ${describeValue(numBeams)}.`);
    }
    this.decoderPromptLen = decoderPrompt.length;
    this.sequences = Array.from({ length: numBeams }, () => [...decoderPrompt]);
    // Only beam 0 counts at the first step: the others hold the same ids and would give duplicates.
    this.beamScores = new Float64Array(numBeams).fill(-1e9);
    this.beamScores[0] = 0;
    this.hypotheses = new BeamHypotheses(numBeams, options.lengthPenalty, options.earlyStopping, options.maxLength);
    this.candidateScores = new Float64Array(2 * numBeams);
    this.candidateIndices = new Int32Array(2 * numBeams);
  }

  get isFinished(): boolean {
    return this.done || this.sequences[0].length >= this.options.maxLength;
  }

  /**
   * One decoding step on the raw decoder logits, one row of `vocabSize` per batch row. Beam b's logits are in
   * row `rowOfBeam[b]` (default: row b), so the caller may keep beams in any batch order; a single row may
   * serve all beams while they hold the same sequence (the first step). Rows are read-only here.
   */
  step(logits: Float32Array, processor: LogitsProcessor, rowOfBeam?: ArrayLike<number>): BeamStep {
    if (this.isFinished) throw new Error("BeamSearch.step called after the search finished; call finalize().");
    const { numBeams, vocabSize: V, eosTokenId } = this.options;
    const rows = logits.length / V;
    for (let b = 0; b < numBeams; b++) {
      const row = rowOfBeam ? rowOfBeam[b] : b;
      if (!(row >= 0 && row < rows && Number.isInteger(rows))) {
        throw new Error(`Expected logits of ${V} tokens with a row for beam ${b} (row ${row}) but received ${logits.length} values.`);
      }
    }
    this.candidateCount = 0;
    for (let b = 0; b < numBeams; b++) this.offerRow(logits, (rowOfBeam ? rowOfBeam[b] : b) * V, b, processor);

    const curLen = this.sequences[0].length;
    const sourceBeams = new Int32Array(numBeams);
    const tokens = new Int32Array(numBeams);
    const nextScores = new Float64Array(numBeams);
    let filled = 0;
    for (let rank = 0; rank < this.candidateCount && filled < numBeams; rank++) {
      const flat = this.candidateIndices[rank];
      const beam = Math.floor(flat / V);
      const token = flat - beam * V;
      const score = this.candidateScores[rank];
      if (token === eosTokenId) {
        // An EOS outside the top numBeams ranks neither finishes nor continues.
        if (rank >= numBeams) continue;
        this.hypotheses.add(this.sequences[beam].slice(), score, curLen + 1 - this.decoderPromptLen);
      } else {
        sourceBeams[filled] = beam;
        tokens[filled] = token;
        nextScores[filled] = score;
        filled++;
      }
    }
    if (filled < numBeams) {
      throw new Error(`Beam search found only ${filled} continuations for ${numBeams} beams (vocabulary too small?).`);
    }
    this.done ||= this.hypotheses.isDone(this.candidateScores[0], curLen + 1, this.decoderPromptLen);

    const previous = this.sequences;
    this.sequences = new Array<number[]>(numBeams);
    for (let i = 0; i < numBeams; i++) {
      const row = previous[sourceBeams[i]].slice();
      row.push(tokens[i]);
      this.sequences[i] = row;
      this.beamScores[i] = nextScores[i];
    }
    return { sourceBeams, tokens };
  }

  /** HF `finalize`: offers the live beams if the search stopped at max length, then picks the best hypothesis. */
  finalize(): BeamSearchResult {
    if (!this.done) {
      for (let b = 0; b < this.options.numBeams; b++) {
        const seq = this.sequences[b];
        this.hypotheses.add(seq.slice(), this.beamScores[b], seq.length - this.decoderPromptLen);
      }
    }
    const best = this.hypotheses.best();
    if (!best) throw new Error("Beam search finished with no hypothesis.");
    const ids = best.tokens.slice();
    // Finished hypotheses are stored without their EOS; a beam cut at max length gets none.
    if (ids.length < this.options.maxLength) ids.push(this.options.eosTokenId);
    return { ids, score: best.score };
  }

  /**
   * Feeds one beam's candidates (HF: log_softmax, then the processors, plus the beam score) to the step's top
   * 2*numBeams, without materialising the log-probs: log_softmax(x) = x - lse, a banned token is -inf, a forced
   * token 0 and every other -inf. One pass over the row (scanRow) finds its log-sum-exp and its best raw
   * logits; only the row's best 2*numBeams + (banned) can rank overall.
   */
  private offerRow(logits: Float32Array, offset: number, beam: number, processor: LogitsProcessor): void {
    const V = this.options.vocabSize;
    const ids = this.sequences[beam];
    const beamScore = this.beamScores[beam];
    const flatBase = beam * V;
    const forced = processor.forcedToken(ids.length);
    if (forced >= 0) {
      // Only the forced token and, among the -inf rest, the lowest indices can rank.
      const last = Math.max(forced, Math.min(V - 1, this.candidateScores.length));
      for (let v = 0; v <= last; v++) this.offer(v === forced ? beamScore : -Infinity, flatBase + v);
      return;
    }
    const banned = processor.bannedTokens(ids);
    const capacity = Math.min(V, this.candidateScores.length + banned.length);
    if (this.rowValues.length < capacity) {
      this.rowValues = new Float64Array(capacity);
      this.rowTokens = new Int32Array(capacity);
    }
    const { lse, count } = scanRow(logits, offset, V, capacity, this.rowValues, this.rowTokens);
    const rowValues = this.rowValues;
    const rowTokens = this.rowTokens;
    const shift = beamScore - lse;
    const order: { score: number; token: number }[] = [];
    for (let j = 0; j < count; j++) {
      const token = rowTokens[j];
      order.push({ score: banned.includes(token) ? -Infinity : rowValues[j] + shift, token });
    }
    // Offers must come best first and, among equal scores, in increasing token order (bans reorder -inf ones).
    order.sort((a, b) => (b.score > a.score ? 1 : b.score < a.score ? -1 : a.token - b.token));
    for (const c of order) this.offer(c.score, flatBase + c.token);
  }

  /**
   * Keeps the 2*numBeams best (score, flat index) pairs, best first. Offers come in increasing flat index among
   * equal scores, and a new score goes after the equal ones, so ties rank the lower flat index first (the
   * reference's rule).
   */
  private offer(score: number, flat: number): void {
    const k = this.candidateScores.length;
    let n = this.candidateCount;
    if (n === k) {
      if (!(score > this.candidateScores[k - 1])) return;
      n = k - 1;
    } else {
      this.candidateCount = n + 1;
    }
    let pos = n;
    while (pos > 0 && this.candidateScores[pos - 1] < score) {
      this.candidateScores[pos] = this.candidateScores[pos - 1];
      this.candidateIndices[pos] = this.candidateIndices[pos - 1];
      pos--;
    }
    this.candidateScores[pos] = score;
    this.candidateIndices[pos] = flat;
  }
}
