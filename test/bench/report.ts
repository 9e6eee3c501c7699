/**
 * The results file: conditions, verdicts on issue 6's targets, the per-task table in the seed's format, and one
 * section per measurement. Times in the seed's tables use IPython's `%%time` formatting (src/notebook/timing.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatTime } from "../../src/notebook/timing";
import type { AllTasksResult } from "./all-tasks";
import { BEAMS as BATCH_BEAMS, THROUGHPUT_TASK, type BatchComparison, type BatchSectionResult, type ManySummary } from "./batch-section";
import type { DtypesResult } from "./dtypes-section";
import type { LongBeamsResult } from "./long-beams";
import type { MachineInfo } from "./machine";
import type { BenchModel } from "./models";
import type { BenchOptions } from "./options";
import { BEAMS, type PerTaskResult } from "./per-task";
import type { SampleImage } from "./sample-image";
import type { ProbeRow, SessionOptionsResult } from "./session-options";
import type { SoakSectionResult } from "./soak";
import type { RunSummary } from "./summary";
import type { TaskWorkload } from "./workload";

export interface BenchResults {
  options: BenchOptions;
  argv: string[];
  machine: MachineInfo;
  loadAtEnd: number;
  model: BenchModel;
  modelBytes: number;
  image: SampleImage;
  /** The OCR tasks' photo (the same as `image` where the second photo is absent). */
  textImage?: SampleImage;
  durationS: number;
  /** Prompt and scripted text of each task, for the output-lengths table. */
  scripted: { workload: TaskWorkload; promptTokens: number; text: string }[];
  perTask?: PerTaskResult;
  allTasks?: AllTasksResult;
  batch?: BatchSectionResult;
  longBeams?: LongBeamsResult;
  soak?: SoakSectionResult;
  sessionOptions?: SessionOptionsResult;
  dtypes?: DtypesResult;
}

/** Issue 6's limits. */
export const TARGETS = {
  otherShare: 0.03,
  greedyRatio: 0.95,
  allTasksRatio: 0.5,
  beamPerToken: 2.5,
  bookkeepingShare: 0.1,
  peakRssBytes: 2 * 2 ** 30,
  /** "No growth" over the soak: below this, the RSS wanders with allocator noise, not with the run count. */
  soakGrowthBytes: 16 * 2 ** 20,
} as const;

/** Issue 10's limits (batched generation). */
export const BATCH_TARGETS = {
  tasksGreedyRatio: 0.55,
  tasksBeamsRatio: 0.75,
  photosThroughput: 1.3,
  /** 3.5 GB. */
  peakRssBytes: 3.5e9,
} as const;

const s = (ms: number) => formatTime(ms / 1000);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const x2 = (x: number) => `${x.toFixed(2)}x`;
const cpuTimes = (r: RunSummary) => `${s(r.userMs)} / ${s(r.sysMs)} / ${s(r.userMs + r.sysMs)}`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Time per generated token in the decoder loop: the engine's own loop time when it reports one. */
export function loopMsPerToken(r: RunSummary): number {
  const loop = r.engine.decoderLoopMs ?? r.wallMs - r.visionMs - r.encoderMs;
  return loop / r.tokens;
}

/** Share of the decoder loop spent choosing tokens and reordering the cache (the engine's own figures). */
export function bookkeepingShare(r: RunSummary): number | undefined {
  const { decoderLoopMs, searchMs } = r.engine;
  if (decoderLoopMs === undefined || searchMs === undefined) return undefined;
  return searchMs / decoderLoopMs;
}

interface Verdict {
  target: string;
  measured: string;
  met: boolean | undefined;
}

function verdicts(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  const rows = r.perTask?.rows ?? [];
  if (rows.length > 0) {
    const worstOther = rows.reduce((a, b) => (b.ours.otherShare > a.ours.otherShare ? b : a));
    const worstOtherBeam = rows.reduce((a, b) => (b.oursBeam.otherShare > a.oursBeam.otherShare ? b : a));
    out.push({
      target: `1. Outside session.run <= ${pct(TARGETS.otherShare)} of wall, every task`,
      measured: `greedy worst ${pct(worstOther.ours.otherShare)} (${worstOther.workload.task.name}); ${BEAMS} beams worst ${pct(worstOtherBeam.oursBeam.otherShare)} (${worstOtherBeam.workload.task.name})`,
      met: worstOther.ours.otherShare <= TARGETS.otherShare && worstOtherBeam.oursBeam.otherShare <= TARGETS.otherShare,
    });
    const ratio = (row: (typeof rows)[number]) => row.ours.wallMs / row.theirs.wallMs;
    const worst = rows.reduce((a, b) => (ratio(b) > ratio(a) ? b : a));
    const best = rows.reduce((a, b) => (ratio(b) < ratio(a) ? b : a));
    out.push({
      target: `2. Greedy wall <= ${TARGETS.greedyRatio}x transformers.js, every task`,
      measured: `worst ${x2(ratio(worst))} (${worst.workload.task.name}), best ${x2(ratio(best))} (${best.workload.task.name}); ${rows.filter((row) => ratio(row) <= TARGETS.greedyRatio).length}/${rows.length} tasks within`,
      met: rows.every((row) => ratio(row) <= TARGETS.greedyRatio),
    });
  }
  if (r.allTasks) {
    const ratio = r.allTasks.oursSequenceMs / r.allTasks.theirsSumMs;
    out.push({
      target: `3. All tasks on one image <= ${TARGETS.allTasksRatio}x the sum of separate transformers.js runs`,
      measured: `${s(r.allTasks.oursSequenceMs)} vs ${s(r.allTasks.theirsSumMs)}: ${x2(ratio)}`,
      met: ratio <= TARGETS.allTasksRatio,
    });
  }
  if (rows.length > 0 || r.longBeams) {
    const ratios = rows.map((row) => ({ name: row.workload.task.name, ratio: loopMsPerToken(row.oursBeam) / loopMsPerToken(row.ours) }));
    if (r.longBeams) ratios.push({ name: `${r.longBeams.tokens} tokens`, ratio: loopMsPerToken(r.longBeams.beam) / loopMsPerToken(r.longBeams.greedy) });
    const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    out.push({
      target: `4a. ${BEAMS}-beam cost per token <= ${TARGETS.beamPerToken}x greedy`,
      measured: `worst ${x2(worst.ratio)} (${worst.name})`,
      met: worst.ratio <= TARGETS.beamPerToken,
    });
  }
  if (r.longBeams) {
    const share = bookkeepingShare(r.longBeams.beam);
    out.push({
      target: `4b. Beam bookkeeping + cache reordering <= ${pct(TARGETS.bookkeepingShare)} of decoder time at ${r.longBeams.tokens} tokens`,
      measured: share === undefined ? "the engine reports no search/cache timings" : pct(share),
      met: share === undefined ? undefined : share <= TARGETS.bookkeepingShare,
    });
  }
  const peaks = rows.flatMap((row) => [row.ours.peakRssBytes, row.oursBeam.peakRssBytes]);
  if (r.longBeams) peaks.push(r.longBeams.beam.peakRssBytes, r.longBeams.greedy.peakRssBytes);
  if (r.allTasks) peaks.push(r.allTasks.peakRssBytes);
  if (peaks.length > 0) {
    const peak = Math.max(...peaks);
    out.push({
      target: `5a. Peak RSS < ${mib(TARGETS.peakRssBytes)} (${r.options.size} ${r.options.dtype})`,
      measured: mib(peak),
      met: peak < TARGETS.peakRssBytes,
    });
  }
  if (r.soak) {
    out.push({
      target: `5b. No RSS growth over ${r.soak.runs} consecutive runs`,
      measured: `${(r.soak.growthBytes / 2 ** 20).toFixed(1)} MiB from run 1 to ${r.soak.runs} (trend ${(r.soak.slopeBytesPerRun / 1024).toFixed(1)} KiB/run)`,
      met: r.soak.growthBytes < TARGETS.soakGrowthBytes,
    });
  }
  if (r.batch) out.push(...batchVerdicts(r.batch));
  if (r.sessionOptions) {
    out.push({
      target: "6. Session options chosen by measurement",
      measured: `${r.sessionOptions.rows.length} option sets measured (table below)`,
      met: undefined,
    });
  }
  if (r.dtypes) {
    const speedups = r.dtypes.rows.map((row) => row.oursFp32.wallMs / row.oursQ8.wallMs);
    out.push({
      target: "7. q8 measured against fp32",
      measured: `q8 ${speedups.map(x2).join(", ")} faster (${r.dtypes.rows.map((row) => row.task).join(", ")})`,
      met: undefined,
    });
  }
  return out;
}

function batchVerdicts(b: BatchSectionResult): Verdict[] {
  const ratio = (c: BatchComparison) => c.batched.wallMs / c.sequential.wallMs;
  const same = (c: BatchComparison) => (c.sameIds && c.batched.asScripted && c.sequential.asScripted ? "" : " (**not the same ids: not comparable**)");
  const out: Verdict[] = [
    {
      target: `10a. ${b.tasksGreedy.requests} tasks batched <= ${BATCH_TARGETS.tasksGreedyRatio}x sequential, greedy`,
      measured: `${s(b.tasksGreedy.batched.wallMs)} vs ${s(b.tasksGreedy.sequential.wallMs)}: ${x2(ratio(b.tasksGreedy))}${same(b.tasksGreedy)}`,
      met: ratio(b.tasksGreedy) <= BATCH_TARGETS.tasksGreedyRatio && same(b.tasksGreedy) === "",
    },
    {
      target: `10b. ${b.tasksBeams.requests} tasks batched <= ${BATCH_TARGETS.tasksBeamsRatio}x sequential, ${BATCH_BEAMS} beams (early_stopping=False)`,
      measured: `${s(b.tasksBeams.batched.wallMs)} vs ${s(b.tasksBeams.sequential.wallMs)}: ${x2(ratio(b.tasksBeams))}${same(b.tasksBeams)}`,
      met: ratio(b.tasksBeams) <= BATCH_TARGETS.tasksBeamsRatio && same(b.tasksBeams) === "",
    },
    {
      target: `10c. ${b.photos.requests} photos x ${THROUGHPUT_TASK} batched >= ${BATCH_TARGETS.photosThroughput}x the sequential throughput`,
      measured: `${x2(1 / ratio(b.photos))} (${throughput(b.photos.batched, b.photos.requests)} vs ${throughput(b.photos.sequential, b.photos.requests)})${same(b.photos)}`,
      met: 1 / ratio(b.photos) >= BATCH_TARGETS.photosThroughput && same(b.photos) === "",
    },
  ];
  const atDefault = b.sweep.find((row) => row.maxBatchRows === b.defaultMaxBatchRows);
  if (atDefault) {
    out.push({
      target: `10d. Peak RSS of the ${b.tasksBeams.requests}-task ${BATCH_BEAMS}-beam batch (default maxBatchRows ${b.defaultMaxBatchRows}) < 3.5 GB`,
      measured: `${mib(atDefault.peakRssBytes)} (${(atDefault.peakRssBytes / 1e9).toFixed(2)} GB)`,
      met: atDefault.peakRssBytes < BATCH_TARGETS.peakRssBytes,
    });
  }
  return out;
}

const throughput = (m: ManySummary, requests: number) => `${((requests * 60000) / m.wallMs).toFixed(1)} images/min`;

function verdictWord(met: boolean | undefined): string {
  return met === undefined ? "measured" : met ? "**met**" : "**missed**";
}

/** The label every results file starts with: these are not Florence-2's weights. */
function standInNote(size: BenchOptions["size"]): string {
  const what = "**random weights** and a scripted decoder: their outputs are not Florence-2's";
  if (size === "tiny") {
    return `> **Stand-in weights (tiny).** The tiny stand-in keeps only Florence-2's vocabulary and file layout (D = 16, one layer each), with ${what}. A smoke test of the benchmark, not a measurement of Florence-2's compute.`;
  }
  return (
    `> **Stand-in weights of real size.** The models here have Florence-2-${size}'s exact shapes and compute (DaViT vision encoder, BART encoder-decoder; ONNX files laid out like onnx-community's export) but ${what}. ` +
    "What is measured is the time of the real computation for outputs of realistic length. Generated by `npm run bench` (test/bench/), which any clone can re-run."
  );
}

function conditions(r: BenchResults): string {
  const m = r.machine;
  const busy = Math.max(m.loadAtStart, r.loadAtEnd) > m.logicalCores * 0.5;
  const lines = [
    `- Machine: ${m.cpu}, ${m.logicalCores} logical cores, ${m.memoryGiB} GiB RAM, ${m.os}`,
    `- Software: Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode} (both sides), @huggingface/transformers ${m.transformersJs}`,
    `- Load average (1 min) at start ${m.loadAtStart.toFixed(2)}, at end ${r.loadAtEnd.toFixed(2)}` +
      (busy ? ": **other processes were using the CPU**, so absolute times are inflated and noisier than on a quiet machine" : ""),
    `- Model: ${r.options.size} stand-in, dtype ${r.options.dtype}, ${(r.modelBytes / 1e6).toFixed(0)} MB of ONNX files in ${path.basename(r.model.folder)}/ (${r.model.generated ? `generated in ${r.model.generateSeconds.toFixed(1)} s` : "reused"})`,
    `- Images: ${r.image.origin}${r.textImage && r.textImage.path !== r.image.path ? `; the OCR tasks on ${r.textImage.origin}` : ""}`,
    `- Threads and session options: ours: ${r.perTask?.oursDescription ?? "engine defaults"}; transformers.js: ${r.perTask?.theirsDescription ?? "its defaults"}`,
    `- Runs: ${r.options.warmup} greedy warm-up run(s) per task and side (beam search warmed up on the first task), then the median of ${r.options.runs} timed runs per task and side, the two sides alternating (who goes first alternates too); each side in its own process`,
    `- Command: \`npm run bench${r.argv.length > 0 ? ` -- ${r.argv.join(" ")}` : ""}\`, ${m.date}, ${(r.durationS / 60).toFixed(1)} min`,
  ];
  return lines.join("\n");
}

function perTaskSection(p: PerTaskResult): string {
  const seed = table(
    ["task", "tokens", "ours device", "ours CPU times (user / sys / total)", "ours wall", "transformers.js CPU times (user / sys / total)", "transformers.js wall", "ours / transformers.js"],
    p.rows.map((row) => [
      row.workload.task.name,
      String(row.workload.outputTokens),
      p.oursDevice ?? "CPU",
      cpuTimes(row.ours),
      s(row.ours.wallMs),
      cpuTimes(row.theirs),
      s(row.theirs.wallMs),
      x2(row.ours.wallMs / row.theirs.wallMs),
    ]),
  );
  const engineMs = (row: RunSummary, key: string) => (row.engine[key] === undefined ? "n/a" : s(row.engine[key]));
  const split = table(
    ["task", "vision", "encoder", "decoder steps", "everything else", "share of wall", "of which: preprocessing / token choice / post-processing", "tokens/s ours / transformers.js", "peak RSS ours / transformers.js"],
    p.rows.map((row) => [
      row.workload.task.name,
      s(row.ours.visionMs),
      s(row.ours.encoderMs),
      s(row.ours.decoderMs),
      s(row.ours.otherMs),
      pct(row.ours.otherShare),
      `${engineMs(row.ours, "preprocessMs")} / ${engineMs(row.ours, "searchMs")} / ${engineMs(row.ours, "postprocessMs")}`,
      `${row.ours.tokensPerSecond.toFixed(0)} / ${row.theirs.tokensPerSecond.toFixed(0)}`,
      `${mib(row.ours.peakRssBytes)} / ${mib(row.theirs.peakRssBytes)}`,
    ]),
  );
  const theirsSplit = table(
    ["task", "vision", "encoder", "decoder steps", "everything else", "share of wall"],
    p.rows.map((row) => [row.workload.task.name, s(row.theirs.visionMs), s(row.theirs.encoderMs), s(row.theirs.decoderMs), s(row.theirs.otherMs), pct(row.theirs.otherShare)]),
  );
  const beams = table(
    ["task", `ours ${BEAMS} beams CPU times (user / sys / total)`, "wall", "wall / greedy", "decoder loop per token, beams / greedy", "search + cache share of decoder loop", "peak RSS"],
    p.rows.map((row) => {
      const share = bookkeepingShare(row.oursBeam);
      return [
        row.workload.task.name,
        cpuTimes(row.oursBeam),
        s(row.oursBeam.wallMs),
        x2(row.oursBeam.wallMs / row.ours.wallMs),
        `${loopMsPerToken(row.oursBeam).toFixed(1)} / ${loopMsPerToken(row.ours).toFixed(1)} ms = ${x2(loopMsPerToken(row.oursBeam) / loopMsPerToken(row.ours))}`,
        share === undefined ? "n/a" : pct(share),
        mib(row.oursBeam.peakRssBytes),
      ];
    }),
  );
  const mismatched = p.rows.filter((row) => !row.ours.asScripted || !row.theirs.asScripted || !row.oursBeam.asScripted);
  const check =
    mismatched.length === 0
      ? "Every run of both sides emitted exactly the scripted ids (checked per run), so both did the same work."
      : `**Runs that did not emit the scripted ids:** ${mismatched.map((row) => row.workload.task.name).join(", ")}: their times are not comparable.`;
  return [
    "## Per task, greedy: ours and transformers.js (the seed's format)",
    "",
    "Each task from the image file to the parsed result, image features not reused between tasks. CPU times are the whole process's (onnxruntime's threads included), as in `%%time`.",
    "",
    seed,
    "",
    check,
    "",
    "### Where our time goes (greedy)",
    "",
    "Vision = vision_encoder, encoder = encoder_model, decoder steps = embed_tokens + decoder_model_merged runs (the prompt's single embed_tokens run is counted here too), everything else = wall time outside every `session.run`: image decoding and resizing, tensor building, logits processing, token choice, text decoding, post-processing. The engine's own timings split the rest: preprocessing (reading, decoding, resizing and normalizing the image, building and tokenizing the prompt), token choice (logits processing and greedy/beam bookkeeping) and post-processing (decoding ids to text, parsing); what remains is tensor building and the calls around the sessions. Tokens/s = generated tokens / decoder-step session time. Peak RSS = the process' peak during a run (VmHWM reset before each run), model included.",
    "",
    split,
    "",
    "The same split for transformers.js:",
    "",
    theirsSplit,
    "",
    `### Ours with ${BEAMS} beams`,
    "",
    "transformers.js 4.3.1 has no beam search (with `num_beams: 3` it still decodes one sequence), so this is ours alone. The decoder loop per token is the engine's loop time divided by the generated tokens; search + cache is the engine's token-choice time (log-softmax, processors, top-k, hypotheses) plus cache tiling/reordering.",
    "",
    beams,
  ].join("\n");
}

function allTasksSection(a: AllTasksResult): string {
  return [
    `## All ${a.tasks} tasks on one image`,
    "",
    `Our engine runs the ${a.tasks} tasks in sequence on one image in one call, as the all-tasks notebook does (the vision encoder ran ${a.oursVisionRuns} time(s) per sequence); transformers.js has no such reuse, so it is the sum of its ${a.tasks} separate per-task medians above. Median of ${a.runs}.`,
    "",
    table(
      ["", "CPU times (user / sys / total)", "wall"],
      [
        ["ours, one sequence", `${s(a.oursSequenceUserMs)} / ${s(a.oursSequenceSysMs)} / ${s(a.oursSequenceUserMs + a.oursSequenceSysMs)}`, s(a.oursSequenceMs)],
        ["ours, sum of separate runs", "", s(a.oursSeparateSumMs)],
        ["transformers.js, sum of separate runs", "", s(a.theirsSumMs)],
        ["ours sequence / transformers.js sum", "", x2(a.oursSequenceMs / a.theirsSumMs)],
      ],
    ),
    "",
    `Within the sequence (median wall per task): ${a.perTaskMs.map((t) => `${t.task} ${s(t.ms)}`).join(", ")}. Peak RSS ${mib(a.peakRssBytes)}.${a.asScripted ? "" : " **Some tasks did not emit their scripted ids.**"}`,
  ].join("\n");
}

function batchSection(b: BatchSectionResult): string {
  const comparisons = [b.tasksGreedy, b.tasksBeams, b.photos];
  const setting = (c: BatchComparison) =>
    `${c.requests} requests on ${c.images} photo(s), ${c.numBeams === 1 ? "greedy" : `${c.numBeams} beams, early_stopping=False`}, ` +
    (c.featuresFirst ? "features computed before the clock" : "from the image files");
  const main = table(
    ["measurement", "tokens", "sequential `run`s", "one `runBatch`", "batched / sequential", "CPU times, batched (user / sys)", "peak RSS sequential / batched", "same ids"],
    comparisons.map((c) => [
      `${c.label} (${setting(c)})`,
      String(c.tokens),
      s(c.sequential.wallMs),
      s(c.batched.wallMs),
      x2(c.batched.wallMs / c.sequential.wallMs),
      `${s(c.batched.userMs)} / ${s(c.batched.sysMs)}`,
      `${mib(c.sequential.peakRssBytes)} / ${mib(c.batched.peakRssBytes)}`,
      c.sameIds && c.batched.asScripted && c.sequential.asScripted ? "yes" : "**no**",
    ]),
  );
  const where = table(
    ["measurement", "mode", "vision", "encoder", "decoder steps (session)", "token choice + cache rows", "everything else", "decoder runs"],
    comparisons.flatMap((c) => {
      const engine = c.batched.batch ?? {};
      const row = (mode: string, m: ManySummary, search: number | undefined, runs: string) => [
        c.label,
        mode,
        s(m.visionMs),
        s(m.encoderMs),
        s(m.decoderMs),
        search === undefined ? "n/a" : s(search),
        s(m.otherMs - (search ?? 0)),
        runs,
      ];
      return [
        row("sequential", c.sequential, undefined, String(c.tokens)),
        row("batched", c.batched, engine.search, `${engine.decoderSteps ?? "?"} in ${engine.waves ?? "?"} wave(s), up to ${engine.maxRows ?? "?"} rows`),
      ];
    }),
  );
  const steps = comparisons
    .filter((c) => c.batched.stepsByRows)
    .map((c) => `- ${c.label}: ${(c.batched.stepsByRows ?? []).map((e) => `${e.rows} rows ${e.steps} x ${(e.ms / e.steps).toFixed(1)} ms`).join(", ")}`);
  const sweep = table(
    ["maxBatchRows", "waves", "most rows in a step", "wall", "peak RSS"],
    b.sweep.map((row) => [
      row.maxBatchRows === b.defaultMaxBatchRows ? `**${row.maxBatchRows}** (default)` : String(row.maxBatchRows),
      String(row.waves),
      String(row.maxRows),
      s(row.wallMs),
      `${mib(row.peakRssBytes)}${row.asScripted ? "" : " (**not as scripted**)"}`,
    ]),
  );
  return [
    "## Batched generation (issue 10)",
    "",
    `The same requests one \`model.run\` after another, and together in one \`model.runBatch\`, in one process, alternating (median of ${b.tasksGreedy.batched.runs}). The walkthrough's tasks run on its photos (OCR tasks on the second one where present), at the seed photo's output lengths: the stand-in's decoder follows one long script and never emits \`</s>\` early, and each request's own \`maxNewTokens\` is its task's length, so each request stops exactly there, in a batch as alone (\`</s>\` is forced at the limit); every run's ids were checked against the script and between the two modes. For the tasks, each photo's features are computed before the clock on both sides (\`encodeImage\`), so the comparison is the encoder and the decoder; the throughput measurement starts from the image files.`,
    "",
    main,
    "",
    "Where the time goes: vision = vision_encoder, encoder = encoder_model, decoder steps = embed_tokens + decoder_model_merged runs, token choice + cache rows = the engine's own figure for the batch (logits processing, greedy/beam bookkeeping, repeating/copying/removing cache rows), everything else = the rest of the wall time (prompts, tensors, post-processing, the engine's wiring).",
    "",
    where,
    "",
    "Decoder steps of the batched runs by their number of rows (steps x mean wall time per step): a step costs a fixed part (the decoder reads its weights once) and a part per row.",
    "",
    ...steps,
    "",
    `### maxBatchRows: the ${b.tasksBeams.requests}-task ${BATCH_BEAMS}-beam batch (early_stopping=False)`,
    "",
    "Each value in a fresh process (a first batch warms it up, the second is timed; the peak RSS is the process's during either, model included). Requests beyond maxBatchRows rows run in later waves; fewer rows per step hold less cache at once.",
    "",
    sweep,
  ].join("\n");
}

function longBeamsSection(l: LongBeamsResult): string {
  const row = (name: string, r: RunSummary) => {
    const share = bookkeepingShare(r);
    return [
      name,
      s(r.wallMs),
      `${loopMsPerToken(r).toFixed(1)} ms`,
      r.engine.searchMs !== undefined ? s(r.engine.searchMs) : "n/a",
      share === undefined ? "n/a" : pct(share),
      mib(r.peakRssBytes),
    ];
  };
  return [
    `## Beam search at ${l.tokens} tokens`,
    "",
    `${l.task} scripted to ${l.tokens} tokens (the decoder cache grows to ${l.tokens} positions), median of ${l.greedy.runs}.`,
    "",
    table(["", "wall", "decoder loop per token", "search + cache (token choice, beam bookkeeping, cache tiling/reordering)", "share of the decoder loop", "peak RSS"], [row("greedy", l.greedy), row(`${BEAMS} beams`, l.beam)]),
    "",
    `Cost per token, beams / greedy: ${x2(loopMsPerToken(l.beam) / loopMsPerToken(l.greedy))}.`,
  ].join("\n");
}

function soakSection(k: SoakSectionResult): string {
  const rss = k.soak.rssAfterRunBytes;
  const every = Math.max(1, Math.floor(rss.length / 10));
  const samples = rss.filter((_, i) => i % every === 0 || i === rss.length - 1).map(mib);
  const resources = (counts: Record<string, number>) =>
    Object.entries(counts).map(([k2, v]) => `${k2} ${v}`).join(", ") || "none";
  return [
    `## Memory over ${k.runs} consecutive runs`,
    "",
    `${k.task}, greedy, ${k.runs} runs in one process after 3 warm-up runs (${s(k.soak.wallMs)}). RSS after ${every === 1 ? "each run" : `every ${every}th run`}: ${samples.join(", ")}. Growth from the first to the last run: ${(k.growthBytes / 2 ** 20).toFixed(1)} MiB; least-squares trend ${(k.slopeBytesPerRun / 1024).toFixed(1)} KiB per run. Active handles before: ${resources(k.soak.activeResourcesBefore)}; after: ${resources(k.soak.activeResourcesAfter)}.`,
  ].join("\n");
}

function sessionOptionsSection(o: SessionOptionsResult): string {
  const base = o.rows.find((row) => row.options.label === "engine defaults");
  const cell = (row: ProbeRow, key: "visionMs" | "encoderMs" | "stepBatch1" | "stepBatch3" | "stepBatch1Long" | "stepBatch3Long") => {
    const value = row[key];
    const text = key === "visionMs" || key === "encoderMs" ? s(value) : `${value.toFixed(1)} ms`;
    return base && row !== base ? `${text} (${x2(value / base[key])})` : text;
  };
  const longPast = o.rows[0]?.longPast ?? 0;
  return [
    "## Session options",
    "",
    `Raw onnxruntime sessions of the stand-in, each option set in fresh processes, ${o.rounds} round(s) over all sets, best of ${o.rounds * o.repeats} samples (the least disturbed run: option sets differ by a few percent, other load on a shared machine by more). Vision encoder; text encoder over 577 + 12 tokens; decoder steps (embed_tokens + decoder with KV cache, as both libraries run them), the mean of ${o.decoderSteps} steps after step 0, and of ${Math.max(2, Math.ceil(o.decoderSteps / 4))} steps with ${longPast} positions already in the cache (late in a long generation). Peak RSS: the process' after loading and all of the above. Ratios are against the engine's defaults (src/runtime/sessions.ts: graph optimization all, sequential, memory arena on, memory pattern on for the vision encoder only, onnxruntime's thread count).`,
    "",
    table(
      ["option set", "load", "vision", "encoder", "step, batch 1", "step, batch 3", `step at ${longPast}, batch 1`, `step at ${longPast}, batch 3`, "peak RSS"],
      o.rows.map((row) => [
        row.options.label,
        s(row.loadMs),
        cell(row, "visionMs"),
        cell(row, "encoderMs"),
        cell(row, "stepBatch1"),
        cell(row, "stepBatch3"),
        cell(row, "stepBatch1Long"),
        cell(row, "stepBatch3Long"),
        mib(row.peakRssBytes),
      ]),
    ),
  ].join("\n");
}

function dtypesSection(d: DtypesResult): string {
  return [
    "## q8 against fp32",
    "",
    `The stand-in's \`_quantized\` files have the form of the export's (dynamic int8: MatMulInteger/ConvInteger with per-tensor scales, Gather on a quantized table): ${(d.bytes.q8 / 1e6).toFixed(0)} MB against ${(d.bytes.fp32 / 1e6).toFixed(0)} MB for fp32. Greedy, median of ${d.rows[0]?.oursFp32.runs ?? 0}. Random weights say nothing about the accuracy cost of quantization: that needs the real weights.`,
    "",
    table(
      ["task", "ours fp32", "ours q8", "q8 speed-up", "vision fp32 / q8", "decoder steps fp32 / q8", "transformers.js q8", "ours q8 / transformers.js q8"],
      d.rows.map((row) => [
        row.task,
        s(row.oursFp32.wallMs),
        s(row.oursQ8.wallMs),
        x2(row.oursFp32.wallMs / row.oursQ8.wallMs),
        `${s(row.oursFp32.visionMs)} / ${s(row.oursQ8.visionMs)}`,
        `${s(row.oursFp32.decoderMs)} / ${s(row.oursQ8.decoderMs)}`,
        s(row.theirsQ8.wallMs),
        x2(row.oursQ8.wallMs / row.theirsQ8.wallMs),
      ]),
    ),
  ].join("\n");
}

function outputLengthsSection(r: BenchResults): string {
  return [
    "## Scripted output lengths",
    "",
    "Run time is dominated by the number of generated tokens, so each task emits as many as the real model typically does on the walkthrough's busy street photo: the \"estimated on the seed photo\" column of ../shared/SEED_TIMINGS.md, derived from real Florence-2 outputs on simple images (the examples in ../shared/florence2/examples, counted with the real tokenizer) scaled by the seed's T4 times (about 25 ms per token after 0.1 s of fixed cost; CAPTION's 0.42 s is 13 tokens). Counts include `<s>` and `</s>`.",
    "",
    "One stand-in serves all tasks (the all-tasks mode needs one loaded model): its decoder follows one script, `<s>`, a caption, then records of a label and 8 `<loc_*>` tokens (3-grams unique, so `no_repeat_ngram_size: 3` never blocks it), and each task stops after its count through `max_new_tokens`, which forces `</s>` as the last token on both sides. A decoder step costs the same whatever id it emits; the texts parse as each task's result kind (a label + 8 locations reads as two boxes, a quadrilateral or a 4-point polygon).",
    "",
    table(
      ["task", "tokens", "prompt tokens", "scripted text (start)"],
      r.scripted.map((row) => [
        row.workload.task.name,
        String(row.workload.outputTokens),
        String(row.promptTokens),
        `\`${row.text.length > 90 ? `${row.text.slice(0, 90)}...` : row.text}\``,
      ]),
    ),
  ].join("\n");
}

export function renderResults(r: BenchResults): string {
  const parts = [
    `# Benchmark results: Florence-2 ${r.options.size} stand-in, ${r.options.dtype}`,
    "",
    standInNote(r.options.size),
    "",
    "## Conditions",
    "",
    conditions(r),
    "",
    "## Targets (issues 6 and 10)",
    "",
    table(["target", "measured", "verdict"], verdicts(r).map((v) => [v.target, v.measured, verdictWord(v.met)])),
  ];
  if (r.perTask) parts.push("", perTaskSection(r.perTask));
  if (r.allTasks) parts.push("", allTasksSection(r.allTasks));
  if (r.batch) parts.push("", batchSection(r.batch));
  if (r.longBeams) parts.push("", longBeamsSection(r.longBeams));
  if (r.soak) parts.push("", soakSection(r.soak));
  if (r.sessionOptions) parts.push("", sessionOptionsSection(r.sessionOptions));
  if (r.dtypes) parts.push("", dtypesSection(r.dtypes));
  parts.push("", outputLengthsSection(r));
  const notes = readNotes();
  if (notes !== undefined) parts.push("", notes.trim());
  return parts.join("\n") + "\n";
}

/**
 * test/bench/NOTES.md: the hand-written analysis of the last full run (why a target is missed, with the profile
 * that shows it), appended to the generated results so that a re-run keeps it. It names the run it was written
 * for, so a reader can tell when the numbers above have moved on.
 */
export const NOTES_FILE = path.join(__dirname, "NOTES.md");

function readNotes(): string | undefined {
  try {
    return fs.readFileSync(NOTES_FILE, "utf8");
  } catch {
    return undefined;
  }
}

/** The verdict lines for the console. */
export function renderVerdicts(r: BenchResults): string {
  return verdicts(r)
    .map((v) => `${v.met === undefined ? "MEASURED" : v.met ? "MET     " : "MISSED  "} ${v.target}: ${v.measured}`)
    .join("\n");
}
