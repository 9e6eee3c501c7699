/**
 * The model `npm start` runs, in every mode: the Hub id or folder asked for (downloaded on first use, with progress
 * on stderr), or a generated stand-in in a temporary folder that is removed afterwards; announced with its device
 * and the generation settings.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Florence2, type DeviceOption, type Dtype, type LoadOptions } from "../index";
import { writeWalkthroughStandIn } from "./standin-model";
import { settingsLine, type GenerationSettings } from "./steps";

export interface CommandModelOptions {
  model: string;
  dtype: Dtype;
  device?: DeviceOption;
  standin: boolean;
  settings: GenerationSettings;
}

/**
 * Runs `work` with the loaded model, then disposes of it (and removes a stand-in's folder), whatever `work` did.
 * `load` adds load options (e.g. no feature cache).
 */
export async function withCommandModel<T>(
  options: CommandModelOptions,
  print: (text: string) => void,
  load: Pick<LoadOptions, "cacheImageFeatures">,
  work: (model: Florence2) => Promise<T>,
): Promise<T> {
  if (options.standin) print("Writing a tiny stand-in model with random weights (not Florence-2) ...");
  const standin = options.standin ? await writeWalkthroughStandIn(options.dtype) : null;
  try {
    const model = await Florence2.load(standin ?? options.model, { dtype: options.dtype, device: options.device, ...load });
    try {
      const name = standin ? "generated stand-in (random weights)" : options.model;
      print(`Model: ${name} (${options.dtype}) from ${model.folder}`);
      print(model.device.summary);
      print(`Settings: ${settingsLine(options.settings)}`);
      return await work(model);
    } finally {
      await model.dispose();
    }
  } finally {
    if (standin) fs.rmSync(path.dirname(standin), { recursive: true, force: true });
  }
}
