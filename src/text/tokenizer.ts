/**
 * Florence-2's BART tokenizer: prompt text -> input ids, generated ids -> text for post-processing.
 *
 * A thin wrapper over @huggingface/tokenizers (the tokenizer.json runtime transformers.js uses), loaded
 * from a model folder's tokenizer.json and tokenizer_config.json. It reproduces what the reference does
 * with the fast BartTokenizer: `tokenizer(prompt)` adds `<s>` ... `</s>` (RobertaProcessing), and
 * `batch_decode(ids, skip_special_tokens=False)` keeps `<s>`, `</s>`, `<pad>`, `<loc_k>`, `<poly>`,
 * `<sep>`... verbatim, then applies `clean_up_tokenization_spaces` when tokenizer_config.json asks for it.
 */
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { readModelJson } from "../runtime/config";
import { describeValue } from "../util/describe";

export const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"] as const;

type Json = Record<string, unknown>;

export class Florence2Tokenizer {
  /**
   * Number of distinct tokens, added ones included, like the reference's `len(tokenizer)`: 51289 for
   * Florence-2, its model's `vocab_size`. A tokenizer from another model has another count; so has a tokenizer
   * whose ids have gaps (the tests' generated stand-in tokenizer), which is why Florence2.load checks the
   * highest id rather than this count.
   */
  readonly vocabSize: number;
  /** `<s>` (0 for Florence-2): starts every encoded prompt and every generation after the decoder start. */
  readonly bosTokenId: number;
  /** `</s>` (2): ends prompts and generations; also Florence-2's `decoder_start_token_id`. */
  readonly eosTokenId: number;
  /** `<pad>` (1). */
  readonly padTokenId: number;

  private readonly tokenizer: Tokenizer;
  private readonly cleanUpTokenizationSpaces: boolean;

  /**
   * From the parsed tokenizer.json and tokenizer_config.json of a model (use `fromFolder` to read them).
   * `source` names where they came from, for error messages.
   */
  constructor(tokenizerJson: Json, tokenizerConfig: Json, source = "the given tokenizer JSON") {
    checkTokenizerJson(tokenizerJson, source);
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    // transformers' decode applies clean_up_tokenization when the config says so (Florence-2: true);
    // older configs without the key got the then-default true.
    this.cleanUpTokenizationSpaces = tokenizerConfig.clean_up_tokenization_spaces !== false;
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    this.bosTokenId = this.requireSpecialToken(tokenizerConfig, "bos_token", "<s>", source);
    this.eosTokenId = this.requireSpecialToken(tokenizerConfig, "eos_token", "</s>", source);
    this.padTokenId = this.requireSpecialToken(tokenizerConfig, "pad_token", "<pad>", source);
  }

  /** Reads `tokenizer.json` and `tokenizer_config.json` from a model folder. */
  static fromFolder(folder: string): Florence2Tokenizer {
    const [tokenizerJson, tokenizerConfig] = TOKENIZER_FILES.map((file) => readModelJson(folder, file));
    return new Florence2Tokenizer(tokenizerJson, tokenizerConfig, path.join(folder, "tokenizer.json"));
  }

  /**
   * Prompt text -> ids with `<s>` first and `</s>` last, as the reference's processor tokenizes the prompt
   * (no truncation). Added tokens in the text (`<loc_52>`) are single ids. The engine makes the int64 tensor.
   */
  encode(text: string): number[] {
    if (typeof text !== "string") {
      throw new Error(`Expected a string to encode but received ${describeValue(text)}.`);
    }
    return this.tokenizer.encode(text).ids;
  }

  /**
   * Ids -> text exactly as `batch_decode(ids, skip_special_tokens=False)`: special and added tokens stay
   * (`"</s><s>car<loc_53>...</s>"`). Ids the vocabulary does not have are skipped, as the reference's
   * tokenizer skips them; a negative or non-integer id is an error.
   */
  decode(ids: ArrayLike<number | bigint>): string {
    const known: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      if (!Number.isInteger(id) || id < 0) {
        throw new Error(`Expected token ids to be non-negative integers but ids[${i}] is ${String(ids[i])}.`);
      }
      if (this.tokenizer.id_to_token(id) !== undefined) known.push(id);
    }
    if (known.length === 0) return "";
    return this.tokenizer.decode(known, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: this.cleanUpTokenizationSpaces,
    });
  }

  /** The id of a token string (`"<loc_52>"` -> 50321), or undefined when it is not one token. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** The token string of an id, or undefined outside the vocabulary. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  private requireSpecialToken(config: Json, key: string, fallback: string, source: string): number {
    const configured = config[key];
    const token = typeof configured === "string" ? configured : tokenContent(configured) ?? fallback;
    const id = this.tokenizer.token_to_id(token);
    if (id === undefined) {
      throw new Error(`The tokenizer in ${source} has no ${key} "${token}"; this is not a Florence-2 (BART) tokenizer.`);
    }
    return id;
  }
}

/** tokenizer_config.json may spell a special token as `{ "content": "<s>", ... }`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "object" && value !== null && typeof (value as Json).content === "string") {
    return (value as Json).content as string;
  }
  return undefined;
}

function checkTokenizerJson(tokenizerJson: Json, source: string): void {
  const model = tokenizerJson.model as Json | undefined;
  if (typeof model !== "object" || model === null || typeof model.vocab !== "object" || !Array.isArray(tokenizerJson.added_tokens)) {
    throw new Error(
      `${source} is not a Hugging Face tokenizer.json (expected "model.vocab" and "added_tokens"); ` +
        `the file is corrupt or from another kind of model. Download the model again.`,
    );
  }
}

/**
 * Load-time checks that a folder's tokenizer belongs to its model (Florence2.load runs them).
 *
 * The tokenizer must know the model's last id (vocab_size - 1; `<and>` for Florence-2) and none beyond it,
 * since every id indexes the logits. Its token count may be lower: a stand-in's small tokenizer has gaps.
 * And generation stops at generation_config.json's eos_token_id, which must be the tokenizer's `</s>`: with any
 * other id, a generation would run to maxNewTokens and its text would hold no end marker.
 */
export function checkTokenizerMatchesModel(tokenizer: Florence2Tokenizer, vocabSize: number, eosTokenId: number, folder: string): void {
  const last = tokenizer.idToToken(vocabSize - 1);
  const beyond = tokenizer.idToToken(vocabSize);
  if (last === undefined || beyond !== undefined || tokenizer.vocabSize > vocabSize) {
    const found =
      beyond !== undefined
        ? `it has ids beyond ${vocabSize - 1}, such as ${vocabSize} = ${JSON.stringify(beyond)}`
        : `its ${tokenizer.vocabSize} tokens ${last === undefined ? `do not include id ${vocabSize - 1}` : "are too many"}`;
    throw new Error(
      `The tokenizer in "${folder}" does not match config.json's vocab_size ${vocabSize}: ${found}. ` +
        `tokenizer.json belongs to another model; download the model's own tokenizer files again.`,
    );
  }
  if (tokenizer.eosTokenId !== eosTokenId) {
    const eos = JSON.stringify(tokenizer.idToToken(tokenizer.eosTokenId));
    throw new Error(
      `The end-of-sequence ids in "${folder}" disagree: generation_config.json's eos_token_id is ${eosTokenId}, ` +
        `but tokenizer_config.json's eos_token ${eos} is id ${tokenizer.eosTokenId} in tokenizer.json. ` +
        `The files come from different models: download the model's JSON files again, or set eos_token_id to ` +
        `${tokenizer.eosTokenId} in generation_config.json if the tokenizer is the right one.`,
    );
  }
}
