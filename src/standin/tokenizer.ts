/**
 * Tokenizer files of a stand-in folder: the real Florence-2 tokenizer copied from a reference folder's tokenizer/,
 * or a generated one where there is none. The generated tokenizer is a working BART-style byte-level BPE (the
 * real file's pre-tokenizer, post-processor and decoder; byte tokens and a few merges instead of GPT-2's 50,000)
 * with every special and added token at its real id, so `<loc_k>`, `<poly>`, `</s>` etc. encode and decode as
 * with the real tokenizer; ordinary words just split into more, different ids.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { locToken } from "../text/loc-bins";
import { TOKENIZER_FILES } from "../text/tokenizer";

/** Where a reference folder (see StandInOptions.referenceDir) keeps Florence-2's real tokenizer files. */
export function realTokenizerDir(referenceDir: string): string {
  return path.join(referenceDir, "tokenizer");
}

const SPECIAL_TOKENS = [
  { id: 0, content: "<s>" },
  { id: 1, content: "<pad>" },
  { id: 2, content: "</s>" },
  { id: 3, content: "<unk>" },
] as const;
const MASK = { id: 50264, content: "<mask>" };
const FIRST_ADDED_ID = 50265;

/**
 * Florence-2's 1,024 added tokens in id order from 50265, as the `added_tokens` of microsoft/Florence-2-base-ft's
 * tokenizer.json list them (`<region_to_desciption>` is spelled so there).
 */
export const ADDED_TOKENS: readonly string[] = [
  "<od>",
  "</od>",
  "<ocr>",
  "</ocr>",
  ...Array.from({ length: 1000 }, (_, k) => locToken(k)),
  "<cap>",
  "</cap>",
  "<ncap>",
  "</ncap>",
  "<dcap>",
  "</dcap>",
  "<grounding>",
  "</grounding>",
  "<seg>",
  "</seg>",
  "<sep>",
  "<region_cap>",
  "</region_cap>",
  "<region_to_desciption>",
  "</region_to_desciption>",
  "<proposal>",
  "</proposal>",
  "<poly>",
  "</poly>",
  "<and>",
];

/** Words whose merges the generated vocabulary has ("Ġ" is GPT-2's visible space), so BPE really merges. */
const MERGED_WORDS = ["Ġthe", "Ġimage", "Ġin", "Ġa", "Ġof", "Ġis", "Ġcar", "Ġtext", "What", "Locate", "Ġdescribe"];

/** GPT-2's reversible byte -> printable character map, which byte-level BPE vocabularies are written in. */
function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : next++));
  return chars;
}

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function addedTokens(): AddedToken[] {
  const token = (id: number, content: string, normalized: boolean, lstrip = false): AddedToken => ({
    id,
    content,
    single_word: false,
    lstrip,
    rstrip: false,
    normalized,
    special: true,
  });
  return [
    ...SPECIAL_TOKENS.map((t) => token(t.id, t.content, true)),
    token(MASK.id, MASK.content, true, true),
    ...ADDED_TOKENS.map((content, i) => token(FIRST_ADDED_ID + i, content, false)),
  ];
}

function bpeModel() {
  const vocab: Record<string, number> = {};
  for (const t of SPECIAL_TOKENS) vocab[t.content] = t.id;
  let next = SPECIAL_TOKENS.length;
  for (const ch of byteToUnicode()) vocab[ch] = next++;
  const merges: string[] = [];
  for (const word of MERGED_WORDS) {
    const chars = [...word];
    let left = chars[0];
    for (const ch of chars.slice(1)) {
      const merged = left + ch;
      if (!(merged in vocab)) {
        merges.push(`${left} ${ch}`);
        vocab[merged] = next++;
      }
      left = merged;
    }
  }
  vocab[MASK.content] = MASK.id;
  return {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: "",
    end_of_word_suffix: "",
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges,
  };
}

function generatedTokenizerJson() {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModel(),
  };
}

function generatedTokenizerConfigJson() {
  const decoder: Record<string, Omit<AddedToken, "id">> = {};
  for (const { id, ...rest } of addedTokens()) decoder[String(id)] = rest;
  return {
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: [...ADDED_TOKENS],
    bos_token: "<s>",
    clean_up_tokenization_spaces: true,
    cls_token: "<s>",
    eos_token: "</s>",
    errors: "replace",
    mask_token: "<mask>",
    model_max_length: 1024,
    pad_token: "<pad>",
    processor_class: "Florence2Processor",
    sep_token: "</s>",
    tokenizer_class: "BartTokenizer",
    trim_offsets: true,
    unk_token: "<unk>",
  };
}

export function realTokenizerAvailable(referenceDir: string | undefined): boolean {
  return referenceDir !== undefined && TOKENIZER_FILES.every((f) => fs.existsSync(path.join(realTokenizerDir(referenceDir), f)));
}

/** Writes tokenizer.json + tokenizer_config.json into `folder`; returns their names. */
export function writeTokenizer(folder: string, kind: "real" | "generated", referenceDir?: string): string[] {
  if (kind === "real") {
    if (referenceDir === undefined || !realTokenizerAvailable(referenceDir)) {
      const where = referenceDir === undefined ? "no referenceDir was given" : `${realTokenizerDir(referenceDir)} lacks them`;
      throw new Error(
        `tokenizer: "real" needs ${TOKENIZER_FILES.join(" and ")} from a referenceDir, but ${where}; ` +
          `use tokenizer: "generated" or "auto".`,
      );
    }
    // Read + write rather than copyFile, which would carry over the reference files' read-only mode.
    const dir = realTokenizerDir(referenceDir);
    for (const f of TOKENIZER_FILES) fs.writeFileSync(path.join(folder, f), fs.readFileSync(path.join(dir, f)));
  } else {
    fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(generatedTokenizerJson()));
    fs.writeFileSync(path.join(folder, "tokenizer_config.json"), JSON.stringify(generatedTokenizerConfigJson(), null, 2));
  }
  return [...TOKENIZER_FILES];
}
