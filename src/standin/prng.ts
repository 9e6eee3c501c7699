/**
 * Deterministic weights. Every tensor gets its own stream, seeded from the model seed and the tensor's name, so
 * the values do not depend on the order tensors are written in, and a tied tensor (the token embedding, reused
 * transposed as the LM head) is the same in every file that holds it.
 */
import { fnv1a } from "../util/hash";

/** A 32-bit stream seed per tensor name: FNV-1a of the name, the model seed mixed in. */
export function hashSeed(seed: number, name: string): number {
  return fnv1a(name, seed);
}

/**
 * Fills `out` with values uniform in [-bound, bound) from mulberry32 (a 32-bit PRNG of Tommy Ettinger's; small,
 * fast, and good enough for random weights). Inlined rather than a closure per value: the base stand-in draws
 * about 270M values and this loop is most of its generation time.
 */
export function fillUniform(out: Float32Array, streamSeed: number, bound: number): Float32Array {
  let a = streamSeed >>> 0;
  const scale = (2 * bound) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) * scale - bound;
  }
  return out;
}
