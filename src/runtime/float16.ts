/**
 * float16 <-> float32 for fp16 model files and the stand-in generator's fp16 weights. Node 20 has no Float16Array;
 * onnxruntime carries float16 data as Uint16Array bit patterns, and so does this module.
 */

let halfToFloatTable: Float32Array | undefined;

/** All 65,536 half-precision values as float32: converting fp16 logits is then one lookup per value. */
function halfTable(): Float32Array {
  if (halfToFloatTable) return halfToFloatTable;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero and subnormals, exact in float32
    else if (exp === 0x1f) bits[h] = sign | 0x7f800000 | (mant << 13); // Inf, NaN (payload kept)
    else bits[h] = sign | ((exp + 112) << 23) | (mant << 13); // rebias 15 -> 127
  }
  halfToFloatTable = table;
  return table;
}

/** float16 bit patterns -> float32 (exact). */
export function float16ToFloat32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = halfTable();
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]];
  return dst;
}

/** float32 -> float16 bit patterns, rounding to nearest, ties to even (as numpy's astype(float16)). */
export function float32ToFloat16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = halfBits(bits[i]);
  return dst;
}

function halfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x47800000) {
    // |x| >= 65536 (rounds to Inf: 65520 and up are handled below by the carry), Inf or NaN (kept quiet).
    return sign | (a > 0x7f800000 ? 0x7e00 | ((a >>> 13) & 0x3ff) : 0x7c00);
  }
  if (a < 0x38800000) {
    // Below 2^-14: a half subnormal, value / 2^-24 rounded to an integer. 2^-25 and less round to zero.
    const exp = a >>> 23;
    if (exp < 102) return sign;
    const mant = (a & 0x7fffff) | 0x800000;
    const shift = 126 - exp; // 14..24
    const q = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (q + (rest > halfway || (rest === halfway && q & 1) ? 1 : 0));
  }
  // Normal: rebias the exponent and round the 13 dropped bits; a carry moves into the exponent correctly.
  const odd = (a >>> 13) & 1;
  return sign | ((a - (112 << 23) + 0xfff + odd) >>> 13);
}
