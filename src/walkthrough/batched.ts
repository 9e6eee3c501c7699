/**
 * The walkthrough's tasks a second time, as one `model.runBatch` call (the all-tasks notebook and
 * `npm start -- --batch`): whether every batched output is the one its own run gave, and what the batch took against
 * the runs one after another.
 *
 * The batched time is one figure: the batch's wall time. A task's "batched" time (TaskRun.batched) is its share of
 * it (runBatch's `timings.total`: its share of its photo's vision run, of the text encoder run and of each decoder
 * step it took part in, by rows), so the shares add up to the batch's time; no task of a batch ends on its own.
 */
import { formatTime, renderHtmlTable, type RunOutput, type TextAndHtml } from "../index";
import type { TaskRun } from "./timing-table";

/** How the batched outputs compare with the per-task runs'. */
export interface BatchComparison {
  /** Requests whose ids, text and parsed result are the same in both, and whose beam scores agree to 1e-4. */
  same: number;
  total: number;
  /** One entry per request that differs: its task and what differs. */
  differences: string[];
  /** The largest difference of a beam score between the two (0 for greedy runs). */
  largestScoreDifference: number;
  /** One line that says all of the above. */
  summary: string;
}

/** Beam scores are sums of log-probabilities: batched and alone they may differ by float rounding, no more. */
const SCORE_TOLERANCE = 1e-4;

/** The task token of an output (its result's one key). */
function taskOf(output: RunOutput): string {
  return Object.keys(output.result)[0] ?? "(no result)";
}

/** Each batched output against the per-task output at the same index. */
export function compareBatched(perTask: readonly RunOutput[], batched: readonly RunOutput[]): BatchComparison {
  if (perTask.length !== batched.length) {
    throw new Error(`Expected as many batched outputs as per-task runs (${perTask.length}) but received ${batched.length}.`);
  }
  const differences: string[] = [];
  let largestScoreDifference = 0;
  perTask.forEach((alone, i) => {
    const together = batched[i];
    const task = taskOf(alone);
    const firstDiffering = alone.ids.findIndex((id, t) => together.ids[t] !== id);
    const scoreDifference = alone.score === null || together.score === null ? (alone.score === together.score ? 0 : Infinity) : Math.abs(alone.score - together.score);
    largestScoreDifference = Math.max(largestScoreDifference, scoreDifference);
    if (firstDiffering >= 0 || alone.ids.length !== together.ids.length) {
      const at = firstDiffering >= 0 ? firstDiffering : Math.min(alone.ids.length, together.ids.length);
      differences.push(`${task} (ids differ from token ${at} on: ${alone.ids.length} tokens alone, ${together.ids.length} batched)`);
    } else if (alone.text !== together.text || JSON.stringify(alone.result) !== JSON.stringify(together.result)) {
      differences.push(`${task} (same ids, different text or result)`);
    } else if (scoreDifference > SCORE_TOLERANCE) {
      differences.push(`${task} (beam score ${alone.score} alone, ${together.score} batched)`);
    }
  });
  const total = perTask.length;
  const same = total - differences.length;
  const scores = perTask.some((o) => o.score !== null) ? `; largest beam-score difference ${largestScoreDifference === 0 ? "0" : largestScoreDifference.toExponential(1)}` : "";
  const summary =
    differences.length === 0
      ? `Batched results are the same as the per-task runs for all ${total} tasks (ids, text and parsed result${scores}).`
      : `Batched results differ from the per-task runs for ${differences.length} of ${total} tasks: ${differences.join("; ")}.`;
  return { same, total, differences, largestScoreDifference, summary };
}

/** Sets each run's `batched` share (seconds) from the batched output at the same index. */
export function addBatchedShares(runs: TaskRun[], batched: readonly RunOutput[]): void {
  if (runs.length !== batched.length) {
    throw new Error(`Expected one batched output per run (${runs.length}) but received ${batched.length}.`);
  }
  runs.forEach((run, i) => (run.batched = batched[i].timings.total / 1000));
}

/**
 * Two lines: the batch's wall time against the per-task runs' (their sum and the ratio), then where the batch's
 * time went: vision encoder runs (against the per-task runs' count), text encoder, decoder steps and waves.
 */
export function batchSummary(runs: readonly TaskRun[], perTask: readonly RunOutput[], batched: readonly RunOutput[]): string {
  const batch = batched[0]?.timings.batch;
  if (!batch) throw new Error("Expected the outputs of one model.runBatch call (with timings.batch) but received none.");
  const sequential = runs.reduce((sum, r) => sum + r.times.wall, 0);
  const total = batch.total / 1000;
  const ratio = sequential > 0 ? ` (${(total / sequential).toFixed(2)}x)` : "";
  const perTaskVisionRuns = perTask.filter((o) => !o.timings.imageFeaturesCached).length;
  const other = Math.max(0, batch.total - batch.vision - batch.encoder - batch.decoder) / 1000;
  return (
    `One runBatch of ${batch.requests} requests: ${formatTime(total)}, against ${formatTime(sequential)} for the ` +
    `${runs.length} per-task runs one after another${ratio}.\n` +
    `  vision encoder ${formatTime(batch.vision / 1000)} (${plural(batch.visionRuns, "run")} for ${plural(batch.images, "photo")}; the per-task runs: ` +
    `${plural(perTaskVisionRuns, "run")}), text encoder ${formatTime(batch.encoder / 1000)}, decoder ${formatTime(batch.decoder / 1000)} ` +
    `(${batch.decoderSteps} steps in ${plural(batch.waves, "wave")}, up to ${batch.maxRows} rows a step), reading images, prompts and post-processing ${formatTime(other)}`
  );
}

/**
 * The batch summary for a notebook: batchSummary's two lines as the text, and as HTML a table of where the time went,
 * stage by stage, for the batch and for the per-task runs one after another (their own stage timings).
 */
export function batchSummaryDisplay(runs: readonly TaskRun[], perTask: readonly RunOutput[], batched: readonly RunOutput[]): TextAndHtml {
  const text = batchSummary(runs, perTask, batched);
  const batch = batched[0]?.timings.batch;
  if (!batch) throw new Error("Expected the outputs of one model.runBatch call (with timings.batch) but received none.");
  const sequential = runs.reduce((sum, r) => sum + r.times.wall, 0);
  const stage = (pick: (t: RunOutput["timings"]) => number) => perTask.reduce((sum, o) => sum + pick(o.timings), 0) / 1000;
  const perTaskVisionRuns = perTask.filter((o) => !o.timings.imageFeaturesCached).length;
  const stages = { vision: stage((t) => t.vision), encoder: stage((t) => t.encoder), decoder: stage((t) => t.decoder) };
  const other = Math.max(0, batch.total - batch.vision - batch.encoder - batch.decoder) / 1000;
  const perTaskOther = Math.max(0, sequential - stages.vision - stages.encoder - stages.decoder);
  const ratio = sequential > 0 ? `${(batch.total / 1000 / sequential).toFixed(2)}x the per-task runs' time` : "";
  const steps = perTask.reduce((sum, o) => sum + o.timings.decoderSteps, 0);
  // Three narrow columns, the counts in notes: a "how" column made the table wider than JupyterLab's output area.
  const html = renderHtmlTable({
    title: `One runBatch of ${batch.requests} requests against the ${runs.length} per-task runs one after another`,
    notes: [
      `vision encoder: ${plural(batch.visionRuns, "run")} for ${plural(batch.images, "photo")} (the per-task runs: ${plural(perTaskVisionRuns, "run")})`,
      `decoder: ${batch.decoderSteps} steps in ${plural(batch.waves, "wave")}, up to ${batch.maxRows} rows a step (the per-task runs: ${steps} steps)`,
      ...(ratio ? [`the batch took ${ratio}`] : []),
    ],
    columns: [
      { text: "stage" },
      { text: "one runBatch", numeric: true },
      { text: `${runs.length} per-task runs`, numeric: true, apart: true },
    ],
    rows: [
      ["vision encoder", formatTime(batch.vision / 1000), formatTime(stages.vision)],
      ["text encoder", formatTime(batch.encoder / 1000), formatTime(stages.encoder)],
      ["decoder", formatTime(batch.decoder / 1000), formatTime(stages.decoder)],
      ["images, prompts, post-processing", formatTime(other), formatTime(perTaskOther)],
      ["total (wall)", formatTime(batch.total / 1000), formatTime(sequential)],
    ],
    totals: 1,
  });
  return { text, html };
}

/** "1 photo", "2 photos". */
function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
