/**
 * Telling a stand-in folder from a real model: `writeStandInModel` puts a `stand_in` entry into config.json, and
 * anything that prints a stand-in's output must say that it comes from random weights, not Florence-2.
 * Kept apart from the generator so that notebooks and `npm start` can ask without loading it.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** Whether `folder` (a model folder, e.g. `model.folder`) holds a stand-in written by this project's generator. */
export function isStandInFolder(folder: string): boolean {
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8"));
  } catch {
    return false; // no readable config.json: not a folder the generator wrote
  }
  const marker = (config as { stand_in?: unknown } | null)?.stand_in;
  return marker !== undefined && marker !== null && marker !== false;
}
