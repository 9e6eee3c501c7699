/**
 * Pixels <-> Florence-2 location bins: the only home of the 1000-bin maths.
 *
 * Florence-2 writes a coordinate as one of 1000 tokens `<loc_0>` ... `<loc_999>`: bin k covers
 * [k, k + 1) * size / 1000 of the image's width (x) or height (y). This mirrors the "floor" mode of
 * `BoxQuantizer` / `CoordinatesQuantizer` in Microsoft's `processing_florence2.py`, including its
 * float32 arithmetic (torch's default dtype), so coordinates come out as the reference's exact values.
 * (The tokens themselves, `<loc_52>`, are written and read by loc-tokens.ts.)
 */
import type { ImageSize } from "../image/rgb-image";

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
