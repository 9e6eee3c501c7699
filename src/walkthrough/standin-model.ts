/**
 * `npm start -- --standin`: the walkthrough on a tiny generated model with random weights (src/standin), for
 * trying the command without the 1.1 GB download. Its decoder may only emit a few words and loc tokens, so that
 * its outputs stay short and still parse into labels, boxes and polygons.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Florence2Tokenizer, readGenerationConfig, type Dtype } from "../index";
import { STAND_IN_DTYPES, writeStandInModel } from "../standin/index";

const STANDIN_VOCABULARY = "person car umbrella street<loc_120><loc_260><loc_410><loc_530><loc_680><loc_820><loc_940>";

/** A stand-in model in a new temporary folder; remove `path.dirname(folder)` when done. */
export async function writeWalkthroughStandIn(dtype: Dtype): Promise<string> {
  if (!STAND_IN_DTYPES.includes(dtype)) {
    throw new RangeError(`--standin writes only ${STAND_IN_DTYPES.join(", ")}; choose one of these for --dtype.`);
  }
  const folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "florence2-standin-")), "model");
  // The ids depend on the stand-in's tokenizer (the real one, or a generated one), so it is written first.
  await writeStandInModel(folder, { dtypes: [dtype] });
  const ids = Florence2Tokenizer.fromFolder(folder).encode(STANDIN_VOCABULARY).slice(1, -1); // without <s> ... </s>
  const restrictTo = [...new Set([...ids, readGenerationConfig(folder).eosTokenId])];
  await writeStandInModel(folder, { dtypes: [dtype], restrictTo });
  return folder;
}
