/**
 * Reference helpers the decode tests check the library against: a request decoded alone (a wave of one), the
 * float64 log-softmax the beam-search rules are written in, and a float tensor's values as float32.
 */
import type * as ort from "onnxruntime-node";
import type { EncodedPrompts } from "../../src/decode/encoders";
import { generateWave, type DecodingOptions, type GenerationResult, type GenerationTokens } from "../../src/decode/generation";
import { EXP_NEG_RANGE, expNeg } from "../../src/decode/logits-processors";
import { float16ToFloat32 } from "../../src/runtime/float16";
import type { Florence2Sessions } from "../../src/runtime/sessions";

/** One request alone: a wave of one. `encoded` has one row and is taken over. */
export async function generate(
  sessions: Florence2Sessions,
  encoded: EncodedPrompts,
  tokens: GenerationTokens,
  maxPositions: number,
  options: DecodingOptions & { signal?: AbortSignal; onToken?: (ids: readonly number[]) => void },
): Promise<GenerationResult> {
  const { signal, onToken, ...decoding } = options;
  const { results } = await generateWave(sessions, encoded, [decoding], tokens, maxPositions, {
    signal,
    onToken: onToken && ((ids) => onToken(ids)),
  });
  return results[0];
}

/** log(sum(exp(row[start, end)))) in float64, shifted by the maximum so large logits don't overflow. */
export function logSumExp(row: ArrayLike<number>, start = 0, end = row.length): number {
  let max = -Infinity;
  for (let i = start; i < end; i++) if (row[i] > max) max = row[i];
  if (max === -Infinity || max === Infinity || Number.isNaN(max)) return max;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const x = max - row[i];
    if (x < EXP_NEG_RANGE) sum += expNeg(x);
  }
  return max + Math.log(sum);
}

/** log_softmax of a row into a float64 row (the reference's precision; HF's float32 differs by ~1e-7). */
export function logSoftmax(row: ArrayLike<number>, out: Float64Array = new Float64Array(row.length)): Float64Array {
  const lse = logSumExp(row);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

/** The float32 values of a float tensor (a view when it already is float32). */
export function float32Data(tensor: ort.Tensor): Float32Array {
  if (tensor.type === "float32") return tensor.data as Float32Array;
  if (tensor.type === "float16") return float16ToFloat32(tensor.data as Uint16Array);
  throw new Error(`Expected a float32 or float16 tensor but received ${tensor.type}.`);
}
