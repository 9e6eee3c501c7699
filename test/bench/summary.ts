/**
 * Medians of repeated runs, and where their time went. Everything here is computed the same way for both sides
 * from the child's measurements (wall and CPU clocks, time inside session.run per module).
 */
import { median, medianRecord } from "./measure";
import type { Measurement, RunResult } from "./protocol";
import { sumMs } from "./session-timer";

export interface RunSummary {
  runs: number;
  /** Generated tokens per run, `<s>` and `</s>` included. */
  tokens: number;
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** vision_encoder runs. */
  visionMs: number;
  /** encoder_model runs (the prompt's embed_tokens call is counted with the decoder steps' ones). */
  encoderMs: number;
  /** embed_tokens + decoder_model_merged runs: the decoder steps. */
  decoderMs: number;
  /** Wall time outside every session.run: preprocessing, tensor building, logits processing, search, decoding, post-processing. */
  otherMs: number;
  /** otherMs / wallMs, median over runs. */
  otherShare: number;
  /** Generated tokens per second of decoder-step session time. */
  tokensPerSecond: number;
  /** Highest per-run peak RSS. */
  peakRssBytes: number;
  peakRssIsPerRun: boolean;
  /** The side's own figures (ours: the engine's timings), medians. */
  engine: Record<string, number>;
  /** Whether every run emitted exactly the scripted ids. */
  asScripted: boolean;
}

function split(m: Measurement) {
  const decoderMs = m.sessions.ms.decoder_model_merged + m.sessions.ms.embed_tokens;
  const otherMs = m.wallMs - sumMs(m.sessions);
  return { visionMs: m.sessions.ms.vision_encoder, encoderMs: m.sessions.ms.encoder_model, decoderMs, otherMs };
}

export function summarize(results: readonly RunResult[]): RunSummary {
  if (results.length === 0) throw new Error("No runs to summarize.");
  const tokens = results[0].ids.length - 1;
  const parts = results.map((r) => ({ ...split(r.measurement), wallMs: r.measurement.wallMs }));
  return {
    runs: results.length,
    tokens,
    wallMs: median(parts.map((p) => p.wallMs)),
    userMs: median(results.map((r) => r.measurement.userMs)),
    sysMs: median(results.map((r) => r.measurement.sysMs)),
    visionMs: median(parts.map((p) => p.visionMs)),
    encoderMs: median(parts.map((p) => p.encoderMs)),
    decoderMs: median(parts.map((p) => p.decoderMs)),
    otherMs: median(parts.map((p) => p.otherMs)),
    otherShare: median(parts.map((p) => p.otherMs / p.wallMs)),
    tokensPerSecond: median(parts.map((p) => (tokens * 1000) / p.decoderMs)),
    peakRssBytes: Math.max(...results.map((r) => r.measurement.peakRssBytes)),
    peakRssIsPerRun: results.every((r) => r.measurement.peakRssIsPerRun),
    engine: medianRecord(results.map((r) => r.engine)),
    asScripted: results.every((r) => r.idsAsScripted),
  };
}
