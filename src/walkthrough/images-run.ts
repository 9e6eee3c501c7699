/**
 * `npm start -- --images <folder or files> [--tasks CAPTION,OD] [--out results.jsonl]`: the tasks on the user's own
 * photos, one JSON line per photo and task appended to the results file (results-file.ts), with a progress bar
 * (images-progress.ts).
 *
 * Photos are decoded in batches of whole photos (all their tasks in one `model.runBatch` call): as many photos as
 * fill the model's decoder rows (maxBatchRows over tasks x beams), at least 1 and at most MAX_IMAGES_PER_BATCH, so
 * that the decoder runs full steps while memory stays bounded (each photo of a batch holds its pixels and features
 * until the batch ends) and a photo's results are written, and the bar moves, within one batch's time.
 *
 * Inputs: region tasks take the whole photo as their region (the walkthrough's box was picked on its own photo and
 * means nothing on another); tasks that take a phrase get --text, the same for every photo.
 *
 * A photo that can't be read is reported and skipped; the run goes on. Stopping (the signal, Ctrl-C in main.ts)
 * ends the batch in progress: results already written stay, and the same command carries on from there.
 */
import * as path from "node:path";
import {
  WALKTHROUGH_TASKS, loadImageRgb,
  type BatchRequest, type Florence2, type PixelBox, type RgbImage, type RunOutput, type TaskSpec,
} from "../index";
import type { ImagesOptions } from "./cli";
import { listImageFiles } from "./image-files";
import { ImagesProgress } from "./images-progress";
import { withCommandModel } from "./load-model";
import { ResultsWriter, pairKey, readResults, type ResultRecord, type RunIdentity } from "./results-file";
import { shardOfKey } from "./shards";
import { STANDIN_NOTE, isStandInFolder, notedPrinter } from "./standin-note";

/** Where results go when --out is not given. */
export const DEFAULT_RESULTS_FILE = path.join("output", "results.jsonl");
/** How a stand-in model is named in the results file (its temporary folder changes from run to run). */
export const STANDIN_MODEL_NAME = "stand-in model (random weights, not Florence-2)";
/** Most photos in one batch: their pixels and features stay in memory until it ends. */
export const MAX_IMAGES_PER_BATCH = 8;

/** The default tasks with --images: the walkthrough's, without those that take a phrase unless one was given. */
export function imagesModeTasks(withPhrase: boolean): TaskSpec[] {
  return WALKTHROUGH_TASKS.filter((t) => withPhrase || t.input !== "text");
}

/** Photos per batch: enough to fill `maxBatchRows` decoder rows with their tasks' beams, from 1 to MAX_IMAGES_PER_BATCH. */
export function imagesPerBatch(tasks: number, numBeams: number, maxBatchRows: number): number {
  return Math.max(1, Math.min(MAX_IMAGES_PER_BATCH, Math.floor(maxBatchRows / (tasks * numBeams))));
}

/** A task's input on a photo of this size: the whole photo for region tasks, the phrase for text tasks. */
export function photoTaskInput(task: TaskSpec, size: { width: number; height: number }, phrase: string | undefined): string | PixelBox | undefined {
  if (task.input === "region") return { x1: 0, y1: 0, x2: size.width, y2: size.height };
  if (task.input === "text") return phrase;
  return undefined;
}

export interface ImagesRunSummary {
  /** Photos listed. */
  photos: number;
  /** Result lines already in the file that matched a pair of this run (skipped). */
  alreadyDone: number;
  /** Result lines written by this run. */
  written: number;
  /** Photos that could not be read or run, with the reason. */
  skipped: { file: string; reason: string }[];
  /** Stopped by the signal before the end. */
  interrupted: boolean;
}

export interface ImagesRunIo {
  /** Lines for the user (default console.log); a stand-in's run marks each. */
  write?: (line: string) => void;
  /** Where the progress bar and skipped photos go (default stderr). */
  stderr?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Stops the run (main.ts: Ctrl-C). */
  signal?: AbortSignal;
}

/** One photo still to run, and the tasks it still needs. */
interface PendingPhoto {
  file: string;
  tasks: TaskSpec[];
}

/** A photo read for a batch. */
interface ReadPhoto extends PendingPhoto {
  image: RgbImage;
  readMs: number;
}

export async function runImages(options: ImagesOptions, io: ImagesRunIo = {}): Promise<ImagesRunSummary> {
  // A stand-in's lines say so: --standin, or a stand-in folder given as --model (checked again once loaded).
  let standin = options.standin || isStandInFolder(path.resolve(options.model));
  const write = io.write ?? console.log;
  const print = (text: string) => notedPrinter(standin, write)(text);
  const stderr = io.stderr ?? process.stderr;
  const listed = listImageFiles(options.paths);
  const { ignored } = listed;
  const shard = options.shard;
  const files = shard ? listed.files.filter((_, i) => shardOfKey(listed.keys[i], shard.count) === shard.index) : listed.files;
  const identity: RunIdentity = { model: options.standin ? STANDIN_MODEL_NAME : options.model, dtype: options.dtype, settings: options.settings };
  const existing = readResults(options.resultsFile, identity);
  const keyOf = (file: string, task: TaskSpec) => pairKey(file, task.token, task.input === "text" ? options.text : undefined);
  const pending: PendingPhoto[] = files
    .map((file) => ({ file, tasks: options.tasks.filter((t) => !existing.done.has(keyOf(file, t))) }))
    .filter((p) => p.tasks.length > 0);
  const summary: ImagesRunSummary = {
    photos: files.length,
    alreadyDone: files.length * options.tasks.length - pending.reduce((n, p) => n + p.tasks.length, 0),
    written: 0,
    skipped: [],
    interrupted: false,
  };

  const otherFiles = ignored.length > 0 ? ` (passed over ${ignored.length} other file${ignored.length === 1 ? "" : "s"} by extension)` : "";
  print(`Photos: ${files.length}${otherFiles}; tasks: ${options.tasks.map((t) => t.name).join(", ")}`);
  if (shard) {
    const from = shard.from === "--shard" ? "" : ` (from ${shard.from}=${shard.index - 1})`;
    print(`Shard ${shard.index}/${shard.count}${from}: ${files.length} of the ${listed.files.length} photos, chosen by a hash of each photo's path.`);
  }
  if (options.tasks.some((t) => t.input === "region")) print("Region tasks take the whole photo as their region.");
  if (options.text !== undefined) print(`Phrase for ${options.tasks.filter((t) => t.input === "text").map((t) => t.name).join(", ")}: ${JSON.stringify(options.text)}`);
  print(`Results: ${options.resultsFile}${summary.alreadyDone > 0 ? ` (${summary.alreadyDone} of this run's results already there: skipped)` : ""}`);
  if (existing.tail.kind === "cut") {
    print(`  its last line was cut short (${existing.tail.bytes} bytes, from a run stopped while writing it): it is removed, and its pair runs again`);
  }
  if (files.length === 0) {
    print(`Nothing to do: none of the photos falls in this shard.`);
    return summary;
  }
  if (pending.length === 0) {
    print(`Nothing to do: every photo and task is in ${options.resultsFile}.`);
    return summary;
  }

  return withCommandModel(options, print, { cacheImageFeatures: false }, async (model) => {
    standin ||= isStandInFolder(model.folder);
    // Opened only now, so that a run that can't load its model leaves the file as it was.
    const writer = ResultsWriter.open(existing);
    const progress = new ImagesProgress(pending.length, { mode: options.quiet ? "silent" : "auto", stream: stderr });
    const perBatch = imagesPerBatch(options.tasks.length, options.settings.numBeams, model.maxBatchRows);
    print(`Decoding ${perBatch === 1 ? "one photo" : `up to ${perBatch} photos`} per batch (${pending.length} photos to go).`);
    const run: BatchRun = { model, options, standin, writer, progress, summary, signal: io.signal };
    try {
      for (let i = 0; i < pending.length && !summary.interrupted; i += perBatch) {
        if (io.signal?.aborted) summary.interrupted = true;
        else await runPhotoBatch(run, pending.slice(i, i + perBatch));
      }
    } finally {
      progress.finish();
      writer.close();
    }
    for (const { file, reason } of summary.skipped) print(`Skipped ${file}: ${reason}`);
    const skipped = summary.skipped.length > 0 ? `; ${summary.skipped.length} photo${summary.skipped.length === 1 ? "" : "s"} skipped (listed above)` : "";
    if (summary.interrupted) {
      print(`Stopped: ${summary.written} results written to ${options.resultsFile}${skipped}. Run the same command again to carry on.`);
    } else {
      print(`Done: ${summary.written} results written to ${options.resultsFile}${summary.alreadyDone > 0 ? `, ${summary.alreadyDone} were there already` : ""}${skipped}.`);
    }
    return summary;
  });
}

/** What every batch of a run shares. */
interface BatchRun {
  model: Florence2;
  options: ImagesOptions;
  /** The model has random weights: every line says so. */
  standin: boolean;
  writer: ResultsWriter;
  progress: ImagesProgress;
  summary: ImagesRunSummary;
  signal: AbortSignal | undefined;
}

/** Reads the photos (skipping those that fail), runs their tasks as one batch, writes their lines. */
async function runPhotoBatch(run: BatchRun, photos: readonly PendingPhoto[]): Promise<void> {
  const { progress, summary } = run;
  progress.batchStarted(photos.length);
  const read: ReadPhoto[] = [];
  for (const photo of photos) {
    const t0 = performance.now();
    try {
      read.push({ ...photo, image: await loadImageRgb(photo.file), readMs: performance.now() - t0 });
    } catch (err) {
      skip(run, photo.file, err);
    }
  }
  try {
    await decodeAndWrite(run, read);
  } catch (err) {
    if (run.signal?.aborted) summary.interrupted = true;
    else throw err;
  }
  progress.batchEnded();
}

/** A batch of read photos: their lines written, or, when the batch fails, each photo alone (a failing one skipped). */
async function decodeAndWrite(run: BatchRun, photos: readonly ReadPhoto[]): Promise<void> {
  if (photos.length === 0) return;
  const { model, options, writer, progress, summary } = run;
  // Task by task, so that requests of similar length decode in the same wave.
  const requests: BatchRequest[] = [];
  const owners: { photo: ReadPhoto; task: TaskSpec; input: string | PixelBox | undefined }[] = [];
  for (const task of options.tasks) {
    for (const photo of photos) {
      if (!photo.tasks.includes(task)) continue;
      const input = photoTaskInput(task, photo.image, options.text);
      requests.push({ image: photo.image, task: task.token, input });
      owners.push({ photo, task, input });
    }
  }
  let outputs: RunOutput[];
  try {
    outputs = await model.runBatch(requests, { ...options.settings, signal: run.signal, onToken: progress.onToken });
  } catch (err) {
    if (run.signal?.aborted) throw err;
    if (photos.length === 1) {
      skip(run, photos[0].file, err);
      return;
    }
    for (const photo of photos) await decodeAndWrite(run, [photo]); // find the photo that fails
    return;
  }
  for (const photo of photos) {
    owners.forEach((owner, i) => {
      if (owner.photo !== photo) return;
      writer.append(record(owner.photo, owner.task, owner.input, outputs[i], run));
      summary.written++;
    });
  }
  progress.imagesDone(photos.length);
}

function skip(run: BatchRun, file: string, err: unknown): void {
  const reason = err instanceof Error ? err.message : String(err);
  run.summary.skipped.push({ file, reason });
  run.progress.message(`Skipped ${file}: ${reason}`);
  run.progress.imagesDone(1, 1);
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The line of one photo and task. Reading the photo (before the batch) is shared among its tasks, as preprocessing. */
function record(photo: ReadPhoto, task: TaskSpec, input: string | PixelBox | undefined, output: RunOutput, run: BatchRun): ResultRecord {
  const { options } = run;
  const t = output.timings;
  const readShare = photo.readMs / photo.tasks.length;
  const batch = t.batch;
  return {
    file: photo.file,
    task: task.token,
    ...(input === undefined ? {} : { input }),
    image: { width: photo.image.width, height: photo.image.height },
    result: output.result,
    text: output.text,
    score: output.score,
    timings: {
      total: round(t.total + readShare),
      preprocess: round(t.preprocess + readShare),
      vision: round(t.vision),
      encoder: round(t.encoder),
      decoder: round(t.decoder),
      postprocess: round(t.postprocess),
      decoderSteps: t.decoderSteps,
      batch: { requests: batch?.requests ?? 1, images: batch?.images ?? 1, total: round(batch?.total ?? t.total) },
    },
    model: options.standin ? STANDIN_MODEL_NAME : options.model,
    dtype: options.dtype,
    settings: options.settings,
    ...(run.standin ? { standin: STANDIN_NOTE } : {}),
  };
}
