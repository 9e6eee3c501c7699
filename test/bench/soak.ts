/**
 * Memory over consecutive runs in one process (issue 6, target 5): after a few warm-up runs, the resident set
 * must not grow with the number of runs.
 */
import { startSide, type BenchContext } from "./context";
import type { SoakResult } from "./protocol";
import { toSpec, workloadFor } from "./workload";

/** The shortest task: 50 runs of it exercise every stage 50 times in minutes. */
export const SOAK_TASK = "<CAPTION>";
const WARMUP_RUNS = 3;

export interface SoakSectionResult {
  task: string;
  runs: number;
  soak: SoakResult;
  /** RSS after the last run minus after the first timed run. */
  growthBytes: number;
  /** Least-squares slope of RSS over the runs, bytes per run. */
  slopeBytesPerRun: number;
}

export function slope(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let den = 0;
  values.forEach((v, i) => {
    num += (i - meanX) * (v - meanY);
    den += (i - meanX) ** 2;
  });
  return num / den;
}

export async function runSoak(context: BenchContext): Promise<SoakSectionResult> {
  const { options, image, log } = context;
  const workload = toSpec(workloadFor(SOAK_TASK));
  const task = workload.task;
  log(`Soak: ${task} ${options.soakRuns} times in one process after ${WARMUP_RUNS} warm-up runs`);
  const ours = await startSide(context, "ours", { label: "soak-ours" });
  let soak: SoakResult;
  try {
    await ours.child.soak({ workload, runs: WARMUP_RUNS, imagePath: image.path });
    soak = await ours.child.soak({ workload, runs: options.soakRuns, imagePath: image.path });
  } finally {
    await ours.child.close();
  }
  const rss = soak.rssAfterRunBytes;
  const result = { task, runs: options.soakRuns, soak, growthBytes: rss[rss.length - 1] - rss[0], slopeBytesPerRun: slope(rss) };
  log(`  RSS ${(rss[0] / 2 ** 20).toFixed(0)} -> ${(rss[rss.length - 1] / 2 ** 20).toFixed(0)} MiB`);
  return result;
}
