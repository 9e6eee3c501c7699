/**
 * The walkthrough without Jupyter (`npm start`): load the model, run each task on its photo with the walkthrough's
 * settings, print the parsed result (a live progress line while it runs) and `%%time` lines, write the drawing,
 * and end with the timing table and chart. It uses the library only through its public entry, as a user would.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  Florence2, drawResult, formatCellTimes, liveProgress, loadImageRgb, startTimer,
  type PixelBox, type RgbImage, type TaskSpec,
} from "../index";
import { drawWalkthroughChart } from "./chart";
import type { WalkthroughOptions } from "./cli";
import { walkthroughPhotoFile } from "./photos";
import { STANDIN_NOTE } from "./standin-note";
import { writeWalkthroughStandIn } from "./standin-model";
import { photoOf, settingsLine, walkthroughInput } from "./steps";
import { timingTable, type RunContext, type TaskRun } from "./timing-table";

/** Where the command's text goes; stand-in mode marks every line. */
type Print = (text: string) => void;

function printer(standin: boolean, write: (line: string) => void): Print {
  return (text) => {
    for (const line of text.split("\n")) write(standin ? `${STANDIN_NOTE} ${line}` : line);
  };
}

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

/** Runs the walkthrough; returns each task's times. Errors propagate (see main.ts for how they are shown). */
export async function runWalkthrough(options: WalkthroughOptions, write: (line: string) => void = console.log): Promise<TaskRun[]> {
  const print = printer(options.standin, write);
  if (options.standin) print("Writing a tiny stand-in model with random weights (not Florence-2) ...");
  const standin = options.standin ? await writeWalkthroughStandIn(options.dtype) : null;
  try {
    // Florence2.load downloads a Hub id on first use, with progress on stderr. Each task runs the vision encoder
    // again (no feature cache), as the walkthrough's run_example did, so that its times compare with the seed's.
    const model = await Florence2.load(standin ?? options.model, { dtype: options.dtype, device: options.device, cacheImageFeatures: false });
    try {
      const name = standin ? "generated stand-in (random weights)" : options.model;
      print(`Model: ${name} (${options.dtype}) from ${model.folder}`);
      print(model.device.summary);
      print(`Settings: ${settingsLine(options.settings)}`);
      fs.mkdirSync(options.outDir, { recursive: true });
      const images = new Images(options.image, print);
      const runs: TaskRun[] = [];
      for (const [i, task] of options.tasks.entries()) {
        runs.push(await runTask(model, images, task, i, options, print));
      }
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
    } finally {
      await model.dispose();
    }
  } finally {
    if (standin) fs.rmSync(path.dirname(standin), { recursive: true, force: true });
  }
}

async function runTask(
  model: Florence2,
  images: Images,
  task: TaskSpec,
  index: number,
  options: WalkthroughOptions,
  print: Print,
): Promise<TaskRun> {
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
  return { task, times, photo: label, png };
}
