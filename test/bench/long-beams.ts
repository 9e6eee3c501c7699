/**
 * Beam search at length: one task scripted to ~1000 tokens, greedy against 3 beams on our engine, to see the
 * per-token cost of beams and how much of the decoder loop the beam bookkeeping takes when the cache is long
 * (a whole-cache copy per step would grow with the length; in-place reordering only with the rows that move).
 */
import { startSide, type BenchContext } from "./context";
import { BEAMS } from "./per-task";
import type { RunResult } from "./protocol";
import { summarize, type RunSummary } from "./summary";
import { toSpec, workloadFor } from "./workload";

/** Polygons are the longest outputs (REFERRING_EXPRESSION_SEGMENTATION reaches 584 tokens on a simple image). */
export const LONG_TASK = "<REFERRING_EXPRESSION_SEGMENTATION>";
const WARMUP_TOKENS = 50;

export interface LongBeamsResult {
  task: string;
  tokens: number;
  greedy: RunSummary;
  beam: RunSummary;
}

export async function runLongBeams(context: BenchContext): Promise<LongBeamsResult> {
  const { options, image, log } = context;
  const tokens = options.longTokens;
  const runs = Math.min(options.runs, 3);
  const workload = { ...workloadFor(LONG_TASK), outputTokens: tokens };
  const task = workload.task.token;
  log(`Long beams: ${task} scripted to ${tokens} tokens, greedy vs ${BEAMS} beams, ${runs} timed run(s) each`);
  const ours = await startSide(context, "ours", { label: "long-beams-ours" });
  const greedy: RunResult[] = [];
  const beam: RunResult[] = [];
  try {
    const run = (numBeams: number, outputTokens = tokens) =>
      ours.child.run({ workload: toSpec({ ...workload, outputTokens }), numBeams, imagePath: image.path });
    // A short warm-up: the process and its sessions are fresh, but a full-length warm-up would cost minutes.
    await run(BEAMS, WARMUP_TOKENS);
    for (let r = 0; r < runs; r++) {
      greedy.push(await run(1));
      beam.push(await run(BEAMS));
    }
  } finally {
    await ours.child.close();
  }
  const result = { task, tokens, greedy: summarize(greedy), beam: summarize(beam) };
  log(`  greedy ${(result.greedy.wallMs / 1000).toFixed(2)} s, ${BEAMS} beams ${(result.beam.wallMs / 1000).toFixed(2)} s`);
  return result;
}
