/**
 * Per-task mode: each task run on its own from the image file, as a user calling the library once per task
 * would (no image features reused), our engine greedy and with 3 beams, transformers.js greedy, alternating
 * after a warm-up.
 */
import { toSpec, type TaskWorkload } from "./workload";
import { imageFor, startSide, type BenchContext } from "./context";
import type { RunResult } from "./protocol";
import { summarize, type RunSummary } from "./summary";

export const BEAMS = 3;

export interface PerTaskRow {
  workload: TaskWorkload;
  ours: RunSummary;
  theirs: RunSummary;
  oursBeam: RunSummary;
}

export interface PerTaskResult {
  rows: PerTaskRow[];
  oursLoadMs: number;
  theirsLoadMs: number;
  oursDescription: string;
  theirsDescription: string;
  /** Where our side's sessions ran (model.device.label). */
  oursDevice: string;
}

export async function runPerTask(context: BenchContext): Promise<PerTaskResult> {
  const { options, log } = context;
  log(`Per-task mode: ${options.workloads.length} tasks x (${options.warmup} warm-up + ${options.runs} timed) x (ours greedy, transformers.js greedy, ours ${BEAMS} beams)`);
  const ours = await startSide(context, "ours", { label: "per-task-ours" });
  const theirs = await startSide(context, "transformers.js");
  log(`  loaded: ours ${(ours.loadMs / 1000).toFixed(1)} s, transformers.js ${(theirs.loadMs / 1000).toFixed(1)} s`);
  const rows: PerTaskRow[] = [];
  try {
    for (const workload of options.workloads) {
      const spec = toSpec(workload);
      const imagePath = imageFor(context, spec.task);
      const runOurs = (numBeams: number) => ours.child.run({ workload: spec, numBeams, imagePath });
      const runTheirs = () => theirs.child.run({ workload: spec, numBeams: 1, imagePath });
      // Each task's prompt length is a new encoder shape for both sides: warm both up on it. Beam search's
      // batch-3 decoder shapes are warmed once, on the first task.
      for (let w = 0; w < options.warmup; w++) {
        await runOurs(1);
        await runTheirs();
        if (rows.length === 0) await runOurs(BEAMS);
      }
      const samples = { ours: [] as RunResult[], theirs: [] as RunResult[], oursBeam: [] as RunResult[] };
      for (let r = 0; r < options.runs; r++) {
        // Alternate who goes first, so that a drift in the machine's load favours neither side.
        if (r % 2 === 0) {
          samples.ours.push(await runOurs(1));
          samples.theirs.push(await runTheirs());
        } else {
          samples.theirs.push(await runTheirs());
          samples.ours.push(await runOurs(1));
        }
        samples.oursBeam.push(await runOurs(BEAMS));
      }
      const row = { workload, ours: summarize(samples.ours), theirs: summarize(samples.theirs), oursBeam: summarize(samples.oursBeam) };
      rows.push(row);
      log(
        `  ${workload.task.name.padEnd(34)} ${String(workload.outputTokens).padStart(4)} tokens: ` +
          `ours ${(row.ours.wallMs / 1000).toFixed(2)} s, transformers.js ${(row.theirs.wallMs / 1000).toFixed(2)} s ` +
          `(x${(row.ours.wallMs / row.theirs.wallMs).toFixed(2)}), ours ${BEAMS} beams ${(row.oursBeam.wallMs / 1000).toFixed(2)} s`,
      );
    }
  } finally {
    await ours.child.close();
    await theirs.child.close();
  }
  return { rows, oursLoadMs: ours.loadMs, theirsLoadMs: theirs.loadMs, oursDescription: ours.description, theirsDescription: theirs.description, oursDevice: ours.device };
}
