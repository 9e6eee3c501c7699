/**
 * Florence-2's location tokens, `<loc_0>` ... `<loc_999>`: the 1000-bin maths (pixels <-> bins) and the tokens
 * themselves (writing them, reading them back). The only home of both.
 *
 * Bin k covers [k, k + 1) * size / 1000 of the image's width (x) or height (y). This mirrors the "floor" mode of
 * `BoxQuantizer` / `CoordinatesQuantizer` in Microsoft's `processing_florence2.py`, including its float32
 * arithmetic (torch's default dtype), so coordinates come out as the reference's exact values.
 *
 * There are two token readers on purpose, because the reference reads more than the vocabulary holds:
 * - **generated text** is read as Microsoft's `processing_florence2.py` reads it (`Florence2PostProcesser`'s
 *   `<loc_(\d+)>` patterns, then `int()`): Python's `\d` on a str matches every Unicode decimal digit and `int()`
 *   converts them, so `<loc_٣>` is bin 3, and zero-padded or out-of-range numbers (`<loc_007>`, `<loc_12345>`)
 *   parse too. `LOC_TOKEN_SOURCE` / `LOC_BIN_SOURCE`, `locBin` and `locBinsIn` read this way; post-processing and
 *   the drawing of text answers use them.
 * - **a region a user gives** must be tokens that exist: `parseLocRegion` accepts exactly four `<loc_N>` with N in
 *   0..999 written in ASCII without leading zeros, the only spellings the tokenizer maps to single loc tokens.
 */
import type { ImageSize } from "../image/rgb-image";
import { describeValue } from "../util/describe";

/** Bins per axis (`NUM_BBOX_WIDTH_BINS` = `NUM_BBOX_HEIGHT_BINS` = 1000 in the reference's post-processor config). */
export const QUANTIZATION_BINS = 1000;

/** The largest bin a model can write: the vocabulary ends at `<loc_999>`. */
export const MAX_BIN = QUANTIZATION_BINS - 1;

/** torch's int64 maximum: `torch.tensor` cannot hold a larger loc number (the reference raises there). */
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MAX_DIGITS = INT64_MAX.toString().length;

/** Pixel size of one bin, as the float32 scalar torch uses when it multiplies or divides a float32 tensor by it. */
function binSize(size: number): number {
  return Math.fround(size / QUANTIZATION_BINS);
}

/**
 * Pixel coordinate -> bin: `floor(x / (size / 1000))` clamped to 0..999, computed in float32 as
 * `BoxQuantizer.quantize` does on a float32 (or int64) tensor. Coordinates left of or above the image
 * clamp to bin 0, those right of or below it to bin 999.
 */
export function quantize(value: number, size: number): number {
  const bin = Math.floor(Math.fround(Math.fround(value) / binSize(size)));
  return Math.min(Math.max(bin, 0), MAX_BIN);
}

/**
 * Bin -> pixel coordinate at the bin's centre, exactly as the reference's float32 torch code computes it
 * (`CoordinatesQuantizer.dequantize`: `(coordinates + 0.5) * bin_size` on a float32 tensor), i.e.
 * `fround(fround(bin + 0.5) * fround(size / 1000))`: bin 52 on width 640 gives 33.599998474121094, not 33.6.
 * There is no clamping: bins above 999 give coordinates beyond the image, as in the reference. `bin` is a
 * non-negative integer that float32 holds exactly (see `binFromDigits`).
 */
export function dequantize(bin: number, size: number): number {
  return Math.fround(Math.fround(bin + 0.5) * binSize(size));
}

/**
 * Bins in x, y, x, y, ... order (a box's two corners, a quad's four, a polygon's points) -> pixel coordinates, x
 * scaled by the image's width and y by its height.
 */
export function dequantizeCoordinates(bins: readonly number[], size: ImageSize): number[] {
  return bins.map((bin, i) => dequantize(bin, i % 2 === 0 ? size.width : size.height));
}

/**
 * The bin torch holds for the ASCII decimal digits of a loc token (`<loc_007>` is 7, `<loc_12345>` is
 * 12345), already rounded to float32 as the int64 -> float32 conversion in `dequantize` rounds it.
 * Numbers beyond int64, where the reference's `torch.tensor` raises an overflow error, saturate at the
 * int64 maximum so that parsing never throws and coordinates stay finite.
 */
export function binFromDigits(digits: string): number {
  // Up to 15 digits a double holds the integer exactly, so one fround is the single int64 -> float32 rounding.
  if (digits.length <= 15) return Math.fround(Number(digits));
  const significant = digits.replace(/^0+/, "");
  if (significant.length > INT64_MAX_DIGITS) return bigIntToFloat32(INT64_MAX);
  const value = BigInt(significant === "" ? "0" : significant);
  return bigIntToFloat32(value > INT64_MAX ? INT64_MAX : value);
}

/**
 * Round a non-negative integer to float32 (nearest, ties to even) without double rounding: keep 26
 * significant bits plus a sticky bit for everything shifted out, which a double holds exactly, so the
 * final fround is the only rounding.
 */
function bigIntToFloat32(value: bigint): number {
  const shift = value.toString(2).length - 26;
  if (shift <= 0) return Math.fround(Number(value));
  const kept = value >> BigInt(shift);
  const sticky = (value & ((1n << BigInt(shift)) - 1n)) !== 0n ? 1n : 0n;
  return Math.fround(Number(kept | sticky) * 2 ** shift);
}

// ---- The tokens: writing and reading `<loc_N>` ----

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
 * `int()` converts them (`"٣"` is 3), then held as torch holds it (`binFromDigits` above).
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
