/**
 * Reading a JSON file that holds an object (a model folder's config.json or tokenizer.json, the download manifest, a
 * stand-in's marker): one reader, so every such file fails with a message that names the file, says what is wrong
 * with it, and gives the caller's fix.
 */
import * as fs from "node:fs";
import { describeValue } from "./describe";

export type JsonObject = Record<string, unknown>;

/**
 * The object in a JSON file. Throws when the file is missing or unreadable, is not JSON, or holds something other
 * than an object; every message names `file` and ends with `fix` (what the user should do, e.g. "Download the model
 * again.").
 */
export function readJsonObject(file: string, fix: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === "ENOENT" ? "there is no such file" : code === "EISDIR" ? "it is a folder" : `it cannot be read (${code ?? err})`;
    throw new Error(`Cannot read ${file}: ${what}. ${fix}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}): the file is corrupt or truncated. ${fix}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`Expected a JSON object in ${file} but found ${describeValue(parsed)}: it is not the file it should be. ${fix}`);
  }
  return parsed as JsonObject;
}

/**
 * The object in a JSON file, or undefined when the file is missing, unreadable, not JSON or not an object: for files
 * whose absence or damage the caller handles itself (a download manifest, a marker it may not find).
 */
export function readJsonObjectOrUndefined(file: string): JsonObject | undefined {
  try {
    return readJsonObject(file, "");
  } catch {
    return undefined;
  }
}
