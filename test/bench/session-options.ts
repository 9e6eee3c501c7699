/**
 * The session-options sweep (issue 6, target 6): the raw sessions of the stand-in opened with one option set
 * at a time, each in a fresh process, timing the vision encoder, the text encoder and decoder steps at batch 1
 * and 3. Options are compared against the engine's defaults (src/runtime/sessions.ts).
 */
import { BenchChild } from "./child-client";
import type { BenchContext } from "./context";
import type { ProbeOptions, ProbeResult } from "./protocol";

export const PROBES: readonly ProbeOptions[] = [
  { label: "onnxruntime defaults (what transformers.js uses)", base: "onnxruntime", overrides: {}, preallocatedLogits: false },
  { label: "engine defaults", base: "engine", overrides: {}, preallocatedLogits: false },
  { label: "intra-op threads 1", base: "engine", overrides: { intraOpNumThreads: 1 }, preallocatedLogits: false },
  { label: "intra-op threads 2", base: "engine", overrides: { intraOpNumThreads: 2 }, preallocatedLogits: false },
  { label: "graph optimization basic", base: "engine", overrides: { graphOptimizationLevel: "basic" }, preallocatedLogits: false },
  { label: "graph optimization extended", base: "engine", overrides: { graphOptimizationLevel: "extended" }, preallocatedLogits: false },
  { label: "memory arena off", base: "engine", overrides: { enableCpuMemArena: false }, preallocatedLogits: false },
  { label: "memory pattern on (all modules)", base: "engine", overrides: { enableMemPattern: true }, preallocatedLogits: false },
  { label: "memory pattern off (all modules)", base: "engine", overrides: { enableMemPattern: false }, preallocatedLogits: false },
  { label: "execution mode parallel", base: "engine", overrides: { executionMode: "parallel" }, preallocatedLogits: false },
  // session.intra_op.allow_spinning: idle intra-op threads spin (default) or sleep at once.
  { label: "thread spinning off", base: "engine", overrides: { extra: { session: { intra_op: { allow_spinning: "0" } } } }, preallocatedLogits: false },
  // session.disable_prepacking: MLAS keeps a second, pre-packed copy of MatMul weights by default (memory for speed).
  { label: "weight prepacking off", base: "engine", overrides: { extra: { session: { disable_prepacking: "1" } } }, preallocatedLogits: false },
  { label: "pre-allocated logits output", base: "engine", overrides: {}, preallocatedLogits: true },
  // freeDimensionOverrides: the vision encoder and the text encoder always run at batch 1 (beams are tiled after
  // the encoder), so their symbolic batch dim can be fixed; with static shapes onnxruntime folds shape arithmetic.
  {
    label: "encoders' batch fixed to 1 (free dimension override)",
    base: "engine",
    overrides: {},
    perModule: { vision_encoder: { freeDimensionOverrides: { batch_size: 1 } }, encoder_model: { freeDimensionOverrides: { batch_size: 1 } } },
    preallocatedLogits: false,
  },
];
const QUICK_PROBES = PROBES.slice(0, 4);

/** The figures of one option set: the best of every sample over all rounds. */
export interface ProbeRow {
  options: ProbeOptions;
  loadMs: number;
  visionMs: number;
  encoderMs: number;
  stepBatch1: number;
  stepBatch3: number;
  longPast: number;
  stepBatch1Long: number;
  stepBatch3Long: number;
  peakRssBytes: number;
}

export interface SessionOptionsResult {
  rows: ProbeRow[];
  rounds: number;
  repeats: number;
  decoderSteps: number;
}

function bestOf(results: readonly ProbeResult[], options: ProbeOptions): ProbeRow {
  const best = (pick: (r: ProbeResult) => number[]) => Math.min(...results.flatMap(pick));
  return {
    options,
    loadMs: Math.min(...results.map((r) => r.loadMs)),
    visionMs: best((r) => r.visionMs),
    encoderMs: best((r) => r.encoderMs),
    stepBatch1: best((r) => r.decoderStepMsBatch1),
    stepBatch3: best((r) => r.decoderStepMsBatch3),
    longPast: results[0].longPast,
    stepBatch1Long: best((r) => r.decoderStepMsBatch1Long),
    stepBatch3Long: best((r) => r.decoderStepMsBatch3Long),
    peakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)),
  };
}

/**
 * Option sets differ by a few percent while other load on a shared machine moves times by more, so each set is
 * opened in several rounds (all sets once per round, so a busy minute hits them alike) and the best sample is
 * kept: the least disturbed run, the usual estimate of a cost under noise.
 */
export async function runSessionOptions(context: BenchContext): Promise<SessionOptionsResult> {
  const { options, model, log } = context;
  const probes = options.quick ? QUICK_PROBES : PROBES;
  const rounds = options.quick ? 1 : 2;
  const repeats = options.quick ? 1 : 2;
  const decoderSteps = options.quick ? 8 : 32;
  log(`Session options: ${probes.length} option sets x ${rounds} round(s), best of ${rounds * repeats} samples each`);
  const results: ProbeResult[][] = probes.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, probe] of probes.entries()) {
      const child = new BenchChild();
      try {
        results[i].push(await child.probe({ folder: model.folder, dtype: options.dtype, options: probe, repeats, decoderSteps }));
      } finally {
        await child.close();
      }
    }
  }
  const rows = probes.map((probe, i) => bestOf(results[i], probe));
  for (const row of rows) {
    log(
      `  ${row.options.label.padEnd(48)} vision ${row.visionMs.toFixed(0)} ms, encoder ${row.encoderMs.toFixed(0)} ms, ` +
        `step ${row.stepBatch1.toFixed(1)} / ${row.stepBatch3.toFixed(1)} ms (batch 1 / 3), ` +
        `at ${row.longPast}: ${row.stepBatch1Long.toFixed(1)} / ${row.stepBatch3Long.toFixed(1)} ms`,
    );
  }
  return { rows, rounds, repeats, decoderSteps };
}
