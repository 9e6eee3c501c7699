/**
 * The stand-in generator (src/standin) as the tests use it: with the project's reference folder `../shared`
 * (when this checkout has one) as its `referenceDir`, so that stand-ins carry the real model's JSON files and
 * tokenizer. Without `../shared` they get the built-in JSON and the generated tokenizer, and tests that need the
 * real tokenizer skip with a message.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as standin from "../../src/standin/index";

export * from "../../src/standin/index";

/** The project's read-only reference material, beside the checkout (absent on a user's clone). */
export const SHARED_DIR = path.resolve(__dirname, "..", "..", "..", "shared");
const REFERENCE_DIR = fs.existsSync(SHARED_DIR) ? SHARED_DIR : undefined;

export const REAL_TOKENIZER_DIR = standin.realTokenizerDir(SHARED_DIR);

export function realTokenizerAvailable(): boolean {
  return standin.realTokenizerAvailable(REFERENCE_DIR);
}

/** `writeStandInModel` with `../shared` as the reference folder unless the test names another. */
export function writeStandInModel(folder: string, options: standin.StandInOptions = {}): Promise<standin.StandInInfo> {
  return standin.writeStandInModel(folder, { referenceDir: REFERENCE_DIR, ...options });
}
