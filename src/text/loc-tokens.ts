/**
 * Florence-2's location tokens, `<loc_0>` ... `<loc_999>`: writing them and reading them back. (Which pixels a bin
 * stands for is loc-bins.ts's business.)
 *
 * There are two readers on purpose, because the reference reads more than the vocabulary holds:
 * - **generated text** is read as Microsoft's `processing_florence2.py` reads it (`Florence2PostProcesser`'s
 *   `<loc_(\d+)>` patterns, then `int()`): Python's `\d` on a str matches every Unicode decimal digit and `int()`
 *   converts them, so `<loc_٣>` is bin 3, and zero-padded or out-of-range numbers (`<loc_007>`, `<loc_12345>`)
 *   parse too. `LOC_TOKEN_SOURCE` / `LOC_BIN_SOURCE`, `locBin` and `locBinsIn` read this way; post-processing and
 *   the drawing of text answers use them.
 * - **a region a user gives** must be tokens that exist: `parseLocRegion` accepts exactly four `<loc_N>` with N in
 *   0..999 written in ASCII without leading zeros, the only spellings the tokenizer maps to single loc tokens.
 */
import { describeValue } from "../util/describe";
import { MAX_BIN, binFromDigits } from "./loc-bins";

/** The reference's `<loc_\d+>` with Python's `\d`, as a RegExp source for a `u`-flag pattern. */
export const LOC_TOKEN_SOURCE = String.raw`<loc_\p{Nd}+>`;
/** The same with the digits captured (`locBin` reads them). */
export const LOC_BIN_SOURCE = String.raw`<loc_(\p{Nd}+)>`;

const LOC_BINS = new RegExp(LOC_BIN_SOURCE, "gu");
/** One vocabulary token: 0..999, no leading zeros, ASCII digits only. */
const VOCABULARY_LOC = String.raw`<loc_(0|[1-9]\d{0,2})>`;
const LOC_REGION = new RegExp(`^${VOCABULARY_LOC.repeat(4)}$`);

/** The token for a bin, `<loc_52>`; `bin` must be an integer in 0..999 (the vocabulary's loc tokens). */
export function locToken(bin: number): string {
  if (!Number.isInteger(bin) || bin < 0 || bin > MAX_BIN) {
    throw new Error(`Expected a loc bin, an integer from 0 to ${MAX_BIN}, but received ${describeValue(bin)}.`);
  }
  return `<loc_${bin}>`;
}

/** The tokens for several bins, `<loc_52><loc_332>...`, in the order given. */
export function locTokens(bins: readonly number[]): string {
  return bins.map(locToken).join("");
}

/**
 * The bin of a loc token's digits as the reference reads them: any Unicode decimal digits, converted as Python's
 * `int()` converts them (`"٣"` is 3), then held as torch holds it (loc-bins.ts `binFromDigits`).
 */
export function locBin(digits: string): number {
  if (ASCII_DIGITS.test(digits)) return binFromDigits(digits);
  let ascii = "";
  for (const char of digits) ascii += String(decimalDigitValue(char.codePointAt(0) as number));
  return binFromDigits(ascii);
}

/** The bins of every loc token in generated text, read as the reference reads them, in order. */
export function locBinsIn(text: string): number[] {
  return [...text.matchAll(LOC_BINS)].map((m) => locBin(m[1]));
}

/** Generated text with every loc token (as the reference reads them) replaced by `replacement`. */
export function replaceLocTokens(text: string, replacement: string): string {
  return text.replace(LOC_BINS, replacement);
}

/**
 * The four bins of a region string a user gives, `"<loc_52><loc_332><loc_932><loc_774>"` (x1, y1, x2, y2), or
 * undefined unless it is exactly four vocabulary loc tokens and nothing else.
 */
export function parseLocRegion(text: string): [number, number, number, number] | undefined {
  const match = LOC_REGION.exec(text);
  if (!match) return undefined;
  const [x1, y1, x2, y2] = match.slice(1).map(Number);
  return [x1, y1, x2, y2];
}

const ASCII_DIGITS = /^[0-9]+$/;
const DECIMAL_DIGIT = /^\p{Nd}$/u;
const DIGIT_VALUES = new Map<number, number>();

/**
 * Unicode encodes each script's decimal digits as a contiguous run 0..9 (several runs may abut), so a digit's value
 * is its distance from the start of its run of `Nd` characters, modulo 10.
 */
function decimalDigitValue(codePoint: number): number {
  if (codePoint >= 0x30 && codePoint <= 0x39) return codePoint - 0x30;
  let value = DIGIT_VALUES.get(codePoint);
  if (value === undefined) {
    let below = 0;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(codePoint - below - 1))) below++;
    value = below % 10;
    DIGIT_VALUES.set(codePoint, value);
  }
  return value;
}
