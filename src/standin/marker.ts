/**
 * Telling a stand-in folder from a real model: `writeStandInModel` puts a `stand_in` entry into config.json, and
 * anything that prints a stand-in's output must say that it comes from random weights, not Florence-2.
 * Kept apart from the generator so that notebooks and `npm start` can ask without loading it.
 */
import * as path from "node:path";
import { readJsonObjectOrUndefined } from "../util/json-file";

/** Whether `folder` (a model folder, e.g. `model.folder`) holds a stand-in written by this project's generator. */
export function isStandInFolder(folder: string): boolean {
  // No readable config.json: not a folder the generator wrote.
  const marker = readJsonObjectOrUndefined(path.join(folder, "config.json"))?.stand_in;
  return marker !== undefined && marker !== null && marker !== false;
}
