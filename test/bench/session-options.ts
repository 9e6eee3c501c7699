/**
 * The session-options sweep (issue 6, target 6): the raw sessions of the stand-in opened with one option set
 * at a time, each in a fresh process, timing the vision encoder, the text encoder and decoder steps at batch 1
 * and 3. Options are compared against the engine's defaults (src/sessions.ts).
 */
import { BenchChild } from "./child-client";
import type { BenchContext } from "./context";
import { median } from "./measure";
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
];
const QUICK_PROBES = PROBES.slice(0, 4);

export interface ProbeRow {
  options: ProbeOptions;
  result: ProbeResult;
  visionMs: number;
  encoderMs: number;
}

export interface SessionOptionsResult {
  rows: ProbeRow[];
  repeats: number;
  decoderSteps: number;
}

export async function runSessionOptions(context: BenchContext): Promise<SessionOptionsResult> {
  const { options, model, log } = context;
  const probes = options.quick ? QUICK_PROBES : PROBES;
  const repeats = options.quick ? 1 : 3;
  const decoderSteps = options.quick ? 16 : 64;
  log(`Session options: ${probes.length} option sets, vision/encoder x${repeats}, ${decoderSteps} decoder steps at batch 1 and 3`);
  const rows: ProbeRow[] = [];
  for (const probe of probes) {
    const child = new BenchChild();
    try {
      const result = await child.probe({ folder: model.folder, dtype: options.dtype, options: probe, repeats, decoderSteps });
      const row = { options: probe, result, visionMs: median(result.visionMs), encoderMs: median(result.encoderMs) };
      rows.push(row);
      log(
        `  ${probe.label.padEnd(48)} vision ${row.visionMs.toFixed(0)} ms, encoder ${row.encoderMs.toFixed(0)} ms, ` +
          `step ${result.decoderStepMsBatch1.toFixed(1)} / ${result.decoderStepMsBatch3.toFixed(1)} ms (batch 1 / 3), ` +
          `at ${result.longPast}: ${result.decoderStepMsBatch1Long.toFixed(1)} / ${result.decoderStepMsBatch3Long.toFixed(1)} ms`,
      );
    } finally {
      await child.close();
    }
  }
  return { rows, repeats, decoderSteps };
}
