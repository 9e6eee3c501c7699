/**
 * A second, independent float16 implementation, for tests only: src/runtime/float16.ts is checked against it, and the stand-in
 * pipeline test (test/standin.test.ts) feeds fp16 files with it. Written differently on purpose (exponent arithmetic
 * and a per-value formula, where src/runtime/float16.ts rebiases bits and uses a table), so one's mistake is not the other's.
 * float32 -> IEEE 754 half precision bit patterns, rounding to nearest even, as numpy's astype(float16) does.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half precision bits of the float32 with bit pattern `x`. */
function halfOfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow to signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // may carry into the exponent: still correct
  return sign | half;
}

export function float16Bits(value: number): number {
  f32[0] = value;
  return halfOfBits(u32[0]);
}

export function toFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfOfBits(bits[i]);
  return out;
}

/** Half precision bits -> number, for reading fp16 outputs in tests. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
