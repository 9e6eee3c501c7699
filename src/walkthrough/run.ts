/**
 * The walkthrough without Jupyter (`npm start`): load the model, run each task on its photo with the walkthrough's
 * settings, print the parsed result (a live progress line while it runs) and `%%time` lines, write the drawing,
 * and end with the timing table and chart. With --batch, the same tasks then run as one `model.runBatch` call, and
 * the table and chart show both. It uses the library only through its public entry, as a user would.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  drawResult, formatCellTimes, liveProgress, loadImageRgb, startTimer,
  type BatchRequest, type Florence2, type PixelBox, type RgbImage, type RunOutput, type TaskSpec,
} from "../index";
import { addBatchedShares, batchSummary, compareBatched } from "./batched";
import { drawWalkthroughChart } from "./chart";
import type { WalkthroughOptions } from "./cli";
import { withCommandModel } from "./load-model";
import { walkthroughPhotoFile } from "./photos";
import { notedPrinter } from "./standin-note";
import { photoOf, walkthroughInput } from "./steps";
import { timingTable, type RunContext, type TaskRun } from "./timing-table";

/** Where the command's text goes; stand-in mode marks every line. */
type Print = (text: string) => void;

/** The image of each task: one the user gave for all, or the walkthrough's photo of the task (decoded once each). */
class Images {
  private readonly decoded = new Map<string, RgbImage>();
  constructor(private readonly userImage: string | undefined, private readonly print: Print) {}

  async forTask(task: TaskSpec): Promise<{ image: RgbImage; source: string; label: string; isNew: boolean }> {
    const source = this.userImage ?? (await walkthroughPhotoFile(task, { log: this.print, instead: "pass --image <file>" }));
    const label = this.userImage !== undefined ? path.basename(this.userImage) : photoOf(task).file;
    const known = this.decoded.get(source);
    if (known) return { image: known, source, label, isNew: false };
    const image = await loadImageRgb(source);
    this.decoded.set(source, image);
    return { image, source, label, isNew: true };
  }
}

/** One task's run: its row of the table, and what the batch needs to run it again. */
interface TaskOutcome {
  run: TaskRun;
  request: BatchRequest;
  output: RunOutput;
}

/** Runs the walkthrough; returns each task's times. Errors propagate (see main.ts for how they are shown). */
export async function runWalkthrough(options: WalkthroughOptions, write: (line: string) => void = console.log): Promise<TaskRun[]> {
  const print = notedPrinter(options.standin, write);
  // Each task runs the vision encoder again (no feature cache), as the walkthrough's run_example did, so that its
  // times compare with the seed's.
  return withCommandModel(options, print, { cacheImageFeatures: false }, async (model) => {
    fs.mkdirSync(options.outDir, { recursive: true });
    const images = new Images(options.image, print);
    const outcomes: TaskOutcome[] = [];
    for (const [i, task] of options.tasks.entries()) {
      outcomes.push(await runTask(model, images, task, i, options, print));
    }
    const runs = outcomes.map((o) => o.run);
    if (options.batch) await runAsBatch(model, outcomes, options, print);
    const context: RunContext = {
      model: options.model,
      dtype: options.dtype,
      settings: options.settings,
      device: model.device,
      standin: options.standin,
    };
    print("");
    print(timingTable(runs, context));
    const chart = path.join(options.outDir, "timings.png");
    fs.writeFileSync(chart, (await drawWalkthroughChart(runs, context)).png);
    print(`Chart: ${chart}`);
    return runs;
  });
}

/**
 * The tasks again, as one runBatch call on the same images with the same inputs and settings: each photo is
 * encoded once (the per-task runs encoded it for every task, as the walkthrough did). Prints its `%%time` lines,
 * where its time went, and whether every output is the one the task's own run gave; sets each run's share.
 */
async function runAsBatch(model: Florence2, outcomes: readonly TaskOutcome[], options: WalkthroughOptions, print: Print): Promise<void> {
  const runs = outcomes.map((o) => o.run);
  print("");
  print(`── all ${outcomes.length} tasks again, as one model.runBatch call`);
  const progress = liveProgress({ label: `runBatch of ${outcomes.length} requests`, mode: options.quiet ? "silent" : "auto", print });
  const timer = startTimer();
  let batched: RunOutput[];
  try {
    batched = await model.runBatch(outcomes.map((o) => o.request), { ...options.settings, onToken: progress.onBatchToken });
  } finally {
    progress.done();
  }
  print(formatCellTimes(timer.stop()));
  print(batchSummary(runs, outcomes.map((o) => o.output), batched));
  print(compareBatched(outcomes.map((o) => o.output), batched).summary);
  addBatchedShares(runs, batched);
}

async function runTask(
  model: Florence2,
  images: Images,
  task: TaskSpec,
  index: number,
  options: WalkthroughOptions,
  print: Print,
): Promise<TaskOutcome> {
  const { image, source, label, isNew } = await images.forTask(task);
  const input = walkthroughInput(task, { width: image.width, height: image.height });
  print("");
  const heading = `${task.token}${task.japaneseName ? ` ${task.japaneseName}` : ""}`;
  const inputNote = input === undefined ? "" : ` input: ${JSON.stringify(input)}`;
  print(`── ${index + 1}/${options.tasks.length} ${heading} on ${label}${inputNote}`);
  if (isNew) print(`Image: ${source} (${image.width}x${image.height})`);
  const progress = liveProgress({ label: task.token, tokenizer: model.tokenizer, mode: options.quiet ? "silent" : "auto", print });
  const timer = startTimer();
  let out;
  try {
    out = await model.run(image, task.token, input, { ...options.settings, onToken: progress.onToken });
  } catch (err) {
    progress.done();
    throw err;
  }
  progress.done(JSON.stringify(out.result)); // the live line gives way to the result, inside the timed span
  const times = timer.stop();
  print(formatCellTimes(times));
  const region = typeof input === "object" ? (input as PixelBox) : undefined;
  const drawing = await drawResult(image, task.token, out.result, region ? { region } : {});
  const png = path.join(options.outDir, `${String(index + 1).padStart(2, "0")}-${task.name}.png`);
  fs.writeFileSync(png, drawing.png);
  print(`Drawn: ${png}`);
  return { run: { task, times, photo: label, png }, request: { image, task: task.token, input }, output: out };
}
