/**
 * Batched generation (issue 10): the same requests one `run` after another and together in one `runBatch`, in
 * one child process, alternating, with the engine's own account of where the batch's time went; then the
 * 14-task 3-beam batch at several `maxBatchRows`, each in a fresh process, for its time and peak memory.
 *
 * Every request stops after its task's scripted length: the stand-in's decoder follows one long script that
 * never emits `</s>` early, and each request's own `maxNewTokens` is its task's length, so generation forces
 * `</s>` exactly there. Rows of one decoder step all sit at the same position of the script, so a batch emits
 * what the sequential runs emit (checked per run).
 */
import { readModelConfig } from "../../src/runtime/config";
import { defaultMaxBatchRows } from "../../src/florence2";
import type { StepsByRows } from "../../src/decode/generation";
import { imageFor, startSide, type BenchContext } from "./context";
import { median, medianRecord } from "./measure";
import type { ManyRequest, ManyResult } from "./protocol";
import { distinctPhotos } from "./sample-image";
import { sumMs } from "./session-timer";
import { toSpec, workloadFor, type TaskWorkload } from "./workload";

/** The throughput measurement: one task on many photos. */
export const THROUGHPUT_TASK = "<MORE_DETAILED_CAPTION>";
export const BEAMS = 3;

export interface ManySummary {
  runs: number;
  wallMs: number;
  userMs: number;
  sysMs: number;
  visionMs: number;
  encoderMs: number;
  /** embed_tokens + decoder runs. */
  decoderMs: number;
  /** Wall time outside every session.run. */
  otherMs: number;
  peakRssBytes: number;
  asScripted: boolean;
  /** Batched only: the engine's batch timings (medians) and the decoder steps by rows of the median run. */
  batch?: Record<string, number>;
  stepsByRows?: StepsByRows[];
}

export interface BatchComparison {
  label: string;
  requests: number;
  images: number;
  numBeams: number;
  earlyStopping: boolean;
  /** Whether the photos' features were computed before the clock (both modes). */
  featuresFirst: boolean;
  /** Generated tokens of all requests. */
  tokens: number;
  sequential: ManySummary;
  batched: ManySummary;
  /** Whether every batched run gave every request the sequential runs' ids. */
  sameIds: boolean;
}

export interface RowsSweepRow {
  maxBatchRows: number;
  wallMs: number;
  peakRssBytes: number;
  waves: number;
  maxRows: number;
  asScripted: boolean;
}

export interface BatchSectionResult {
  tasksGreedy: BatchComparison;
  tasksBeams: BatchComparison;
  photos: BatchComparison;
  /** The 14-task 3-beam batch (early_stopping false) at each maxBatchRows, each in a fresh process. */
  sweep: RowsSweepRow[];
  defaultMaxBatchRows: number;
}

function summarizeMany(results: readonly ManyResult[]): ManySummary {
  const parts = results.map((r) => {
    const m = r.measurement;
    return {
      wallMs: m.wallMs,
      visionMs: m.sessions.ms.vision_encoder,
      encoderMs: m.sessions.ms.encoder_model,
      decoderMs: m.sessions.ms.decoder_model_merged + m.sessions.ms.embed_tokens,
      otherMs: m.wallMs - sumMs(m.sessions),
    };
  });
  const wall = parts.map((p) => p.wallMs);
  const medianRun = results[wall.indexOf([...wall].sort((a, b) => a - b)[(wall.length - 1) >> 1])];
  const batches = results.flatMap((r) => (r.batch ? [r.batch] : []));
  return {
    runs: results.length,
    wallMs: median(wall),
    userMs: median(results.map((r) => r.measurement.userMs)),
    sysMs: median(results.map((r) => r.measurement.sysMs)),
    visionMs: median(parts.map((p) => p.visionMs)),
    encoderMs: median(parts.map((p) => p.encoderMs)),
    decoderMs: median(parts.map((p) => p.decoderMs)),
    otherMs: median(parts.map((p) => p.otherMs)),
    peakRssBytes: Math.max(...results.map((r) => r.measurement.peakRssBytes)),
    asScripted: results.every((r) => r.perItem.every((item) => item.idsAsScripted)),
    ...(batches.length > 0 ? { batch: medianRecord(batches), stepsByRows: medianRun.stepsByRows } : {}),
  };
}

function itemsFor(context: BenchContext, workloads: readonly TaskWorkload[], photos?: readonly string[]): ManyRequest["items"] {
  return workloads.map((w, i) => ({ workload: toSpec(w), imagePath: photos ? photos[i] : imageFor(context, w.task.token) }));
}

async function compare(
  context: BenchContext,
  child: Awaited<ReturnType<typeof startSide>>["child"],
  label: string,
  items: ManyRequest["items"],
  setting: { numBeams: number; earlyStopping: boolean; featuresFirst: boolean },
): Promise<BatchComparison> {
  const { options, log } = context;
  const run = (mode: ManyRequest["mode"]) => child.many({ mode, items, ...setting });
  for (let w = 0; w < options.warmup; w++) {
    await run("sequential");
    await run("batched");
  }
  const sequential: ManyResult[] = [];
  const batched: ManyResult[] = [];
  for (let r = 0; r < options.runs; r++) {
    // Alternate who goes first, so that a drift in the machine's load favours neither.
    if (r % 2 === 0) {
      sequential.push(await run("sequential"));
      batched.push(await run("batched"));
    } else {
      batched.push(await run("batched"));
      sequential.push(await run("sequential"));
    }
  }
  const reference = sequential[0].perItem.map((item) => item.ids.join(","));
  const result: BatchComparison = {
    label,
    requests: items.length,
    images: new Set(items.map((i) => i.imagePath)).size,
    ...setting,
    tokens: items.reduce((s, i) => s + i.workload.outputTokens, 0),
    sequential: summarizeMany(sequential),
    batched: summarizeMany(batched),
    sameIds: batched.every((b) => b.perItem.every((item, i) => item.ids.join(",") === reference[i])),
  };
  log(
    `  ${label}: sequential ${(result.sequential.wallMs / 1000).toFixed(2)} s, batched ${(result.batched.wallMs / 1000).toFixed(2)} s ` +
      `(x${(result.batched.wallMs / result.sequential.wallMs).toFixed(2)})${result.sameIds ? "" : " **ids differ**"}`,
  );
  return result;
}

/** The 14-task 3-beam batch at one maxBatchRows, in a fresh process: its time and its peak memory. */
async function sweepPoint(context: BenchContext, items: ManyRequest["items"], maxBatchRows: number): Promise<RowsSweepRow> {
  const side = await startSide(context, "ours", { label: `batch-rows-${maxBatchRows}` });
  try {
    const request = { mode: "batched" as const, items, numBeams: BEAMS, earlyStopping: false, featuresFirst: true, maxBatchRows };
    const results: ManyResult[] = [];
    // The first batch warms up the process; the peak memory counts every run's.
    for (let r = 0; r < Math.min(2, context.options.runs + 1); r++) results.push(await side.child.many(request));
    const timed = results.slice(results.length > 1 ? 1 : 0);
    const last = timed[timed.length - 1];
    return {
      maxBatchRows,
      wallMs: median(timed.map((r) => r.measurement.wallMs)),
      peakRssBytes: Math.max(...results.map((r) => r.measurement.peakRssBytes)),
      waves: last.batch?.waves ?? 0,
      maxRows: last.batch?.maxRows ?? 0,
      asScripted: results.every((r) => r.perItem.every((item) => item.idsAsScripted)),
    };
  } finally {
    await side.child.close();
  }
}

export async function runBatchSection(context: BenchContext): Promise<BatchSectionResult> {
  const { options, log } = context;
  const workloads = options.workloads;
  const taskItems = itemsFor(context, workloads);
  log(`Batched generation: ${workloads.length} tasks and ${options.batchPhotos} photos, sequential runs vs one runBatch, ${options.warmup} warm-up + ${options.runs} timed each`);
  const side = await startSide(context, "ours", { label: "batch-ours" });
  let tasksGreedy: BatchComparison;
  let tasksBeams: BatchComparison;
  let photos: BatchComparison;
  try {
    tasksGreedy = await compare(context, side.child, `${workloads.length} tasks, greedy`, taskItems, { numBeams: 1, earlyStopping: false, featuresFirst: true });
    tasksBeams = await compare(context, side.child, `${workloads.length} tasks, ${BEAMS} beams`, taskItems, { numBeams: BEAMS, earlyStopping: false, featuresFirst: true });
    const files = await distinctPhotos(context.image, options.modelsDir, options.batchPhotos);
    const photoItems = itemsFor(context, files.map(() => workloadFor(THROUGHPUT_TASK)), files);
    photos = await compare(context, side.child, `${files.length} photos x ${THROUGHPUT_TASK}, greedy`, photoItems, { numBeams: 1, earlyStopping: false, featuresFirst: false });
  } finally {
    await side.child.close();
  }
  const defaultRows = defaultMaxBatchRows(readModelConfig(context.model.folder));
  const rowsList = [...new Set([...options.batchRows, defaultRows])].sort((a, b) => a - b);
  log(`  maxBatchRows sweep (${workloads.length} tasks, ${BEAMS} beams, a fresh process each): ${rowsList.join(", ")}`);
  const sweep: RowsSweepRow[] = [];
  for (const rows of rowsList) {
    const point = await sweepPoint(context, taskItems, rows);
    sweep.push(point);
    log(`    ${String(rows).padStart(3)} rows: ${(point.wallMs / 1000).toFixed(2)} s, ${point.waves} wave(s), peak RSS ${(point.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
  }
  return { tasksGreedy, tasksBeams, photos, sweep, defaultMaxBatchRows: defaultRows };
}
