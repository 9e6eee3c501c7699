/**
 * Time spent inside `InferenceSession.run`, per Florence-2 module, measured the same way for our engine and for
 * transformers.js: both call the one onnxruntime-node in node_modules, so wrapping its `run` once in a benchmark
 * process sees every call either library makes, without hooks in either. Everything a run spends outside these
 * calls (preprocessing, tensor building, logits processing, beam bookkeeping, decoding, post-processing) is wall
 * time minus their sum. The wrapper costs two `performance.now()` calls per session run.
 */
import * as ort from "onnxruntime-node";
import { MODULES, type ModuleName } from "../../src/runtime/dtypes";

export type SessionKind = ModuleName | "other";
export const SESSION_KINDS: readonly SessionKind[] = [...MODULES, "other"];

export interface SessionTotals {
  /** Milliseconds inside `run` per module. */
  ms: Record<SessionKind, number>;
  /** Number of `run` calls per module. */
  calls: Record<SessionKind, number>;
}

/** Which module a session is, from the input names of the onnx-community export's onnx/ files. */
function kindOf(session: ort.InferenceSession): SessionKind {
  const inputs = session.inputNames;
  if (inputs.includes("pixel_values")) return "vision_encoder";
  if (inputs.includes("use_cache_branch")) return "decoder_model_merged";
  if (inputs.includes("input_ids")) return "embed_tokens";
  if (inputs.includes("inputs_embeds") && inputs.includes("attention_mask")) return "encoder_model";
  return "other";
}

function zeroTotals(): SessionTotals {
  const zeros = () => Object.fromEntries(SESSION_KINDS.map((k) => [k, 0])) as Record<SessionKind, number>;
  return { ms: zeros(), calls: zeros() };
}

let totals = zeroTotals();
let installed = false;

/** Wraps `InferenceSession.prototype.run` once per process. */
export function installSessionTimer(): void {
  if (installed) return;
  installed = true;
  // The exported factory is the implementation class, whose prototype every session shares.
  const proto = (ort.InferenceSession as unknown as { prototype: { run: (...args: unknown[]) => Promise<unknown> } }).prototype;
  const originalRun = proto.run;
  const kinds = new WeakMap<object, SessionKind>();
  proto.run = async function timedRun(this: ort.InferenceSession, ...args: unknown[]) {
    let kind = kinds.get(this);
    if (kind === undefined) {
      kind = kindOf(this);
      kinds.set(this, kind);
    }
    const start = performance.now();
    try {
      return await originalRun.apply(this, args);
    } finally {
      totals.ms[kind] += performance.now() - start;
      totals.calls[kind] += 1;
    }
  };
}

/** Starts a new measurement; returns a function that gives the totals since. */
export function startSessionTotals(): () => SessionTotals {
  if (!installed) throw new Error("installSessionTimer() must run before the sessions are used.");
  totals = zeroTotals();
  return () => ({ ms: { ...totals.ms }, calls: { ...totals.calls } });
}

export function sumMs(t: SessionTotals): number {
  return SESSION_KINDS.reduce((s, k) => s + t.ms[k], 0);
}
