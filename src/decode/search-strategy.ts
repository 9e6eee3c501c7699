/**
 * The search strategy for one request (token choice): greedy search or beam search behind one interface, so the
 * batched loop (generation.ts) treats every request alike. Each strategy owns its request's logits processors
 * (logits-processors.ts), since their limits (max length, n-gram size) are per request, and reads only its own rows of the
 * batch's logits.
 */
import { BeamSearch, type EarlyStopping } from "./beam-search";
import type { GenerationConfig } from "../runtime/config";
import { LogitsProcessor, argmax } from "./logits-processors";

/** How one request is decoded (run options after validation and defaults). */
export interface DecodingOptions {
  /** 1 = greedy search; more = beam search with that many beams. */
  numBeams: number;
  /** Generated tokens at most, the final `</s>` included (capped by the model's decoder positions). */
  maxNewTokens: number;
  earlyStopping: EarlyStopping;
  lengthPenalty: number;
  /** 0 turns the n-gram ban off. */
  noRepeatNgramSize: number;
}

/** Which special tokens generation uses (generation_config.json). */
export type GenerationTokens = Pick<GenerationConfig, "decoderStartTokenId" | "eosTokenId" | "forcedBosTokenId" | "forcedEosTokenId">;

/** What one step decided, in the order of the new live sequences (beams). */
export interface SearchStep {
  /** For each new sequence, the previous one it continues: its decoder cache is that one's. */
  sourceBeams: Int32Array;
  /** The token each new sequence appends: the decoder's next input. */
  tokens: Int32Array;
}

export interface SearchStrategy {
  /** Batch rows the request needs after step 0: 1 for greedy, numBeams for beam search (step 0 needs one). */
  readonly width: number;
  readonly isFinished: boolean;
  /** The sequence so far that `onToken` reports: greedy's, or the best live beam (start token included). */
  readonly current: readonly number[];
  /**
   * Chooses the next tokens from raw decoder logits [rows, V]: the request's sequence b is fed by row
   * `rowOfSequence[b]` (at step 0 one row serves all beams). May edit those rows in place.
   */
  step(logits: Float32Array, rowOfSequence: ArrayLike<number>): SearchStep;
  /** The chosen ids (start token, generated tokens, `</s>` when it fits) and, for beams, their score. */
  finalize(): { ids: number[]; score: number | null };
}

/**
 * maxNewTokens capped to the decoder's learned positions: the last generated token is predicted from position
 * maxNewTokens - 1, so 1024 fits Florence-2-base's 1024 positions exactly (the walkthrough's setting).
 */
export function decoderLengthLimit(maxNewTokens: number, maxPositions: number): number {
  return Math.min(maxNewTokens, maxPositions);
}

/** HF greedy search (`_sample` without sampling): processors on the raw logits, then argmax; stops after EOS. */
export class GreedySearch implements SearchStrategy {
  readonly width = 1;
  private readonly ids: number[];
  private readonly promptLength: number;

  constructor(
    decoderPrompt: readonly number[],
    private readonly processor: LogitsProcessor,
    private readonly vocabSize: number,
    private readonly eosTokenId: number,
  ) {
    this.ids = [...decoderPrompt];
    this.promptLength = decoderPrompt.length;
  }

  get current(): readonly number[] {
    return this.ids;
  }

  get isFinished(): boolean {
    const { ids } = this;
    return ids.length >= this.processor.options.maxLength || (ids.length > this.promptLength && ids[ids.length - 1] === this.eosTokenId);
  }

  step(logits: Float32Array, rowOfSequence: ArrayLike<number>): SearchStep {
    const V = this.vocabSize;
    const row = logits.subarray(rowOfSequence[0] * V, (rowOfSequence[0] + 1) * V);
    this.processor.apply(row, this.ids);
    const token = argmax(row);
    this.ids.push(token);
    return { sourceBeams: new Int32Array([0]), tokens: new Int32Array([token]) };
  }

  finalize(): { ids: number[]; score: null } {
    return { ids: [...this.ids], score: null };
  }
}

/** HF v4.44 beam search (beam-search.ts) for one request. */
export class BeamSearchStrategy implements SearchStrategy {
  private readonly search: BeamSearch;

  constructor(
    decoderPrompt: readonly number[],
    private readonly processor: LogitsProcessor,
    vocabSize: number,
    eosTokenId: number,
    options: Pick<DecodingOptions, "numBeams" | "lengthPenalty" | "earlyStopping">,
  ) {
    const { numBeams, lengthPenalty, earlyStopping } = options;
    const maxLength = processor.options.maxLength;
    this.search = new BeamSearch({ numBeams, vocabSize, eosTokenId, lengthPenalty, earlyStopping, maxLength }, decoderPrompt);
  }

  get width(): number {
    return this.search.options.numBeams;
  }

  get current(): readonly number[] {
    return this.search.sequences[0];
  }

  get isFinished(): boolean {
    return this.search.isFinished;
  }

  step(logits: Float32Array, rowOfSequence: ArrayLike<number>): SearchStep {
    return this.search.step(logits, this.processor, rowOfSequence);
  }

  finalize(): { ids: number[]; score: number } {
    return this.search.finalize();
  }
}

/** The search strategy for one request: greedy for numBeams 1, beam search otherwise. */
export function createSearchStrategy(options: DecodingOptions, tokens: GenerationTokens, vocabSize: number, maxPositions: number): SearchStrategy {
  const decoderPrompt = [tokens.decoderStartTokenId];
  const maxLength = decoderPrompt.length + decoderLengthLimit(options.maxNewTokens, maxPositions);
  const processor = new LogitsProcessor({
    noRepeatNgramSize: options.noRepeatNgramSize,
    forcedBosTokenId: tokens.forcedBosTokenId,
    forcedEosTokenId: tokens.forcedEosTokenId,
    maxLength,
  });
  return options.numBeams > 1
    ? new BeamSearchStrategy(decoderPrompt, processor, vocabSize, tokens.eosTokenId, options)
    : new GreedySearch(decoderPrompt, processor, vocabSize, tokens.eosTokenId);
}
