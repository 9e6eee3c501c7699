/**
 * Pillow's `Image.resize(size, Image.BICUBIC)` for 8-bit RGB, bit for bit (Pillow 9.4, `libImaging/Resample.c`).
 *
 * Florence-2's reference preprocessor resizes with Pillow, and the vision encoder sees those exact bytes. No library
 * in this project does the same: sharp's resize differs by up to 8 levels on a downscaled photo and up to 102 on
 * an upscale (measured), so this file re-implements Pillow's algorithm:
 *  - separable: a horizontal pass into an 8-bit intermediate, then a vertical pass;
 *  - bicubic kernel with a = -0.5, support 2, widened by the scale factor when downscaling (antialiasing);
 *  - per-output-pixel coefficients computed in float64, normalized to sum 1, then rounded to 22-bit fixed point;
 *  - integer accumulation starting at half a unit, shifted back and clipped to 0..255 after each pass.
 * Pillow's horizontal pass covers only the source rows the vertical pass reads; with the whole image as the box
 * (all Image.resize does here) that is every row, so this file skips the bookkeeping.
 */
import { describeValue } from "../util/describe";
import { checkRgbImage, type RgbImage } from "./rgb-image";

/** Pillow's PRECISION_BITS for 8-bit images: 32 bits - 8 for the value - 2 for overshoot and sign. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
/** Accumulators start at 0.5 in fixed point, so the final `>>` rounds to nearest. */
const HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2;
const CHANNELS = 3;

/** Where each output pixel reads from and with what weights, along one axis. */
export interface AxisCoefficients {
  /** Length of each output pixel's weight slot (Pillow's `ksize`). */
  taps: number;
  /** First source index read by output pixel i. */ // [outSize]
  first: Int32Array;
  /** Number of source pixels read by output pixel i (<= taps). */ // [outSize]
  count: Int32Array;
  /** Fixed-point weights, `taps` per output pixel; only the first `count[i]` of slot i are used. */ // [outSize * taps]
  weights: Int32Array;
}

/** Keys' cubic convolution kernel with a = -0.5, written in Pillow's operation order so float64 results agree. */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Pillow rounds the normalized weights half away from zero when it converts them to fixed point. */
function toFixedPoint(weight: number): number {
  return weight < 0 ? Math.trunc(-0.5 + weight * ONE) : Math.trunc(0.5 + weight * ONE);
}

/**
 * The weights Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` give for resizing one axis from `inSize` to
 * `outSize` pixels over the whole image (box 0..inSize).
 */
export function bicubicCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const inverseFilterScale = 1 / filterScale;

  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const raw = new Float64Array(taps);
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamps make that equal to flooring here.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const w = bicubic((i + lo - center + 0.5) * inverseFilterScale);
      raw[i] = w;
      sum += w;
    }
    for (let i = 0; i < n; i++) {
      weights[out * taps + i] = toFixedPoint(sum !== 0 ? raw[i] / sum : raw[i]);
    }
    first[out] = lo;
    count[out] = n;
  }
  return { taps, first, count, weights };
}

/**
 * Horizontal pass. Writes into a Uint8ClampedArray so that storing `sum >> 22` clips to 0..255 the way Pillow's
 * clip8 does.
 */
function resizeRows(
  src: Uint8Array, // [rows, srcWidth, 3]
  srcWidth: number,
  rows: number,
  coeffs: AxisCoefficients,
  outWidth: number,
): Uint8ClampedArray /* [rows, outWidth, 3] */ {
  const { taps, first, count, weights } = coeffs;
  const out = new Uint8ClampedArray(rows * outWidth * CHANNELS);
  let o = 0;
  for (let row = 0; row < rows; row++) {
    const rowStart = row * srcWidth;
    for (let x = 0; x < outWidth; x++) {
      const n = count[x];
      const k0 = x * taps;
      let p = (rowStart + first[x]) * CHANNELS;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let i = 0; i < n; i++) {
        const w = weights[k0 + i];
        r += src[p] * w;
        g += src[p + 1] * w;
        b += src[p + 2] * w;
        p += CHANNELS;
      }
      // Sums stay within int32 (|weights| sum to < 1.3 in fixed point, times 255), so >> is exact here.
      out[o] = r >> PRECISION_BITS;
      out[o + 1] = g >> PRECISION_BITS;
      out[o + 2] = b >> PRECISION_BITS;
      o += CHANNELS;
    }
  }
  return out;
}

/**
 * Vertical pass. Accumulates whole rows (contiguous memory) instead of Pillow's column-by-column loop, four source
 * rows per sweep to cut the read-modify-write traffic on the sums; integer sums do not depend on the order.
 */
function resizeColumns(
  src: Uint8Array | Uint8ClampedArray, // [rows, width, 3]
  width: number,
  coeffs: AxisCoefficients,
  outHeight: number,
): Uint8ClampedArray /* [outHeight, width, 3] */ {
  const { taps, first, count, weights } = coeffs;
  const rowLength = width * CHANNELS;
  const out = new Uint8ClampedArray(outHeight * rowLength);
  const sums = new Int32Array(rowLength);
  for (let y = 0; y < outHeight; y++) {
    const n = count[y];
    const k0 = y * taps;
    const base = first[y] * rowLength;
    sums.fill(HALF);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const w0 = weights[k0 + j];
      const w1 = weights[k0 + j + 1];
      const w2 = weights[k0 + j + 2];
      const w3 = weights[k0 + j + 3];
      const p0 = base + j * rowLength;
      const p1 = p0 + rowLength;
      const p2 = p1 + rowLength;
      const p3 = p2 + rowLength;
      for (let i = 0; i < rowLength; i++) {
        sums[i] += src[p0 + i] * w0 + src[p1 + i] * w1 + src[p2 + i] * w2 + src[p3 + i] * w3;
      }
    }
    for (; j < n; j++) {
      const w = weights[k0 + j];
      const p = base + j * rowLength;
      for (let i = 0; i < rowLength; i++) sums[i] += src[p + i] * w;
    }
    const o = y * rowLength;
    for (let i = 0; i < rowLength; i++) out[o + i] = sums[i] >> PRECISION_BITS;
  }
  return out;
}

function asBytes(data: Uint8ClampedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * `PIL.Image.fromarray(rgb).resize((width, height), Image.BICUBIC)`, byte for byte. Aspect ratio is not kept.
 * Returns a new image; the input is never modified.
 */
export function resizeBicubic(image: RgbImage, width: number, height: number): RgbImage {
  for (const [name, value] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`resizeBicubic: expected a positive integer for ${name} but received ${describeValue(value)}.`);
    }
  }
  const { data, width: srcWidth, height: srcHeight } = checkRgbImage(image, "resizeBicubic");
  // Pillow's Image.resize returns a copy when the size does not change; Resample.c likewise skips an axis
  // whose size is unchanged.
  if (srcWidth === width && srcHeight === height) return { data: new Uint8Array(data), width, height };

  const horizontal =
    srcWidth === width ? undefined : resizeRows(data, srcWidth, srcHeight, bicubicCoefficients(srcWidth, width), width);
  const resized =
    srcHeight === height
      ? (horizontal as Uint8ClampedArray) // set: the sizes differ in at least one axis here
      : resizeColumns(horizontal ?? data, width, bicubicCoefficients(srcHeight, height), height);
  return { data: asBytes(resized), width, height };
}
