/**
 * Quantized modules (issue 6, target 7): our engine on the stand-in's q8 files (the `_quantized` form of the
 * onnx-community export: dynamic int8 MatMulInteger/ConvInteger) against fp32, alternating, plus transformers.js
 * on the same q8 files. Random weights say nothing about accuracy; only speed and size are measured here.
 */
import type { Dtype } from "../../src/runtime/dtypes";
import { startSide, type BenchContext } from "./context";
import { modelBytes } from "./models";
import type { RunResult } from "./protocol";
import { summarize, type RunSummary } from "./summary";
import { toSpec, workloadFor } from "./workload";

/** A short, a medium and a long task. */
export const DTYPE_TASKS = ["<CAPTION>", "<OD>", "<REFERRING_EXPRESSION_SEGMENTATION>"];

export interface DtypeRow {
  task: string;
  oursFp32: RunSummary;
  oursQ8: RunSummary;
  theirsQ8: RunSummary;
}

export interface DtypesResult {
  rows: DtypeRow[];
  bytes: Record<"fp32" | "q8", number>;
}

export async function runDtypes(context: BenchContext): Promise<DtypesResult> {
  const { options, image, log, model } = context;
  const runs = Math.min(options.runs, 3);
  const workloads = DTYPE_TASKS.map((t) => toSpec(workloadFor(t)));
  log(`Dtypes: fp32 vs q8, ${workloads.length} tasks x ${runs} timed run(s)`);
  const fp32 = await startSide(context, "ours", { dtype: "fp32", label: "dtypes-fp32" });
  const q8 = await startSide(context, "ours", { dtype: "q8", label: "dtypes-q8" });
  const theirs = await startSide(context, "transformers.js", { dtype: "q8" });
  const rows: DtypeRow[] = [];
  try {
    for (const workload of workloads) {
      const task = workload.task;
      const run = (side: typeof fp32) => side.child.run({ workload, numBeams: 1, imagePath: image.path });
      await run(fp32);
      await run(q8);
      await run(theirs);
      const samples: Record<string, RunResult[]> = { fp32: [], q8: [], theirs: [] };
      for (let r = 0; r < runs; r++) {
        samples.fp32.push(await run(fp32));
        samples.q8.push(await run(q8));
        samples.theirs.push(await run(theirs));
      }
      const row = { task, oursFp32: summarize(samples.fp32), oursQ8: summarize(samples.q8), theirsQ8: summarize(samples.theirs) };
      rows.push(row);
      log(`  ${task}: fp32 ${(row.oursFp32.wallMs / 1000).toFixed(2)} s, q8 ${(row.oursQ8.wallMs / 1000).toFixed(2)} s, transformers.js q8 ${(row.theirsQ8.wallMs / 1000).toFixed(2)} s`);
    }
  } finally {
    await fp32.child.close();
    await q8.child.close();
    await theirs.child.close();
  }
  const bytes = { fp32: modelBytes(model.folder, "fp32" as Dtype), q8: modelBytes(model.folder, "q8" as Dtype) };
  return { rows, bytes };
}
