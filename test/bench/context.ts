/**
 * What every benchmark section gets: the options, the stand-in, the photo, the session choice for our side,
 * and where to log progress.
 */
import * as path from "node:path";
import { BenchChild } from "./child-client";
import type { Dtype } from "../../src/runtime/dtypes";
import type { BenchModel } from "./models";
import type { BenchOptions } from "./options";
import type { SessionChoice, SideName } from "./protocol";
import { TEXT_PHOTO_TASKS, type SampleImage } from "./sample-image";

export interface BenchContext {
  options: BenchOptions;
  model: BenchModel;
  image: SampleImage;
  /** The photo of the OCR tasks (the walkthrough's second one when present; see sample-image.ts). */
  textImage: SampleImage;
  /** Our engine's session options (threads from --threads; otherwise its defaults). */
  oursSession: SessionChoice;
  log: (line: string) => void;
}

export interface StartOptions {
  dtype?: Dtype;
  /** Names the CPU profile of our side (--profile). */
  label?: string;
  /** Ours: keep image features between runs (default false: every run encodes its image). */
  reuseImageFeatures?: boolean;
}

/** A child process loaded with one side; ours is profiled when --profile is given. */
export async function startSide(
  context: BenchContext,
  side: SideName,
  { dtype = context.options.dtype, label = side, reuseImageFeatures = false }: StartOptions = {},
): Promise<{ child: BenchChild; loadMs: number; description: string; device: string }> {
  const { profileDir } = context.options;
  const nodeFlags =
    side === "ours" && profileDir !== undefined
      ? // One folder per child: tsx's module-loader thread writes a profile too (Node names them CPU.<date>.<pid>.<thread>...).
        ["--cpu-prof", `--cpu-prof-dir=${path.join(profileDir, label.replace(/[^a-z0-9.-]+/gi, "-"))}`]
      : [];
  const child = new BenchChild({ nodeFlags });
  try {
    const loaded = await child.load({
      side,
      folder: path.resolve(context.model.folder),
      dtype,
      session: side === "ours" ? context.oursSession : {},
      script: context.model.script,
      reuseImageFeatures,
    });
    return { child, loadMs: loaded.loadMs, description: loaded.description, device: loaded.device };
  } catch (err) {
    await child.close();
    throw err;
  }
}

/** The photo a task runs on: the OCR tasks on the text photo, the others on the main one. */
export function imageFor(context: BenchContext, task: string): string {
  return TEXT_PHOTO_TASKS.includes(task) ? context.textImage.path : context.image.path;
}
