import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  DEFAULT_PREPROCESSOR_CONFIG, readGenerationConfig, readModelConfig, readPreprocessorConfig,
} from "../../src/runtime/config";

const SHARED_MODEL_FILES = path.resolve(__dirname, "..", "..", "..", "shared", "florence2", "model-files");

function folderWith(files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "f2-config-"));
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), typeof content === "string" ? content : JSON.stringify(content));
  }
  return dir;
}

describe("config", () => {
  describe("with Florence-2-base-ft's own JSON files (../shared)", () => {
    before(function () {
      if (!fs.existsSync(SHARED_MODEL_FILES)) {
        console.log(`    skipped: ${SHARED_MODEL_FILES} is absent (it exists only beside the project's own checkout)`);
        this.skip();
      }
    });

    it("reads the language model's sizes from config.json", () => {
      assert.deepEqual(readModelConfig(SHARED_MODEL_FILES), {
        dModel: 768, decoderLayers: 6, decoderAttentionHeads: 12, vocabSize: 51289,
        maxPositionEmbeddings: 1024,
      });
    });

    it("reads decoding defaults from generation_config.json", () => {
      assert.deepEqual(readGenerationConfig(SHARED_MODEL_FILES), {
        eosTokenId: 2, decoderStartTokenId: 2, forcedBosTokenId: 0, forcedEosTokenId: 2,
        noRepeatNgramSize: 3, numBeams: 3, earlyStopping: true, lengthPenalty: 1,
      });
    });

    it("reads Microsoft's preprocessor_config.json, which has no rescale_factor (CLIP's 1/255 applies)", () => {
      assert.deepEqual(readPreprocessorConfig(SHARED_MODEL_FILES), DEFAULT_PREPROCESSOR_CONFIG);
    });
  });

  it("falls back from generation_config.json to config.json's text_config", () => {
    const dir = folderWith({
      "generation_config.json": { eos_token_id: 2 },
      "config.json": { text_config: { num_beams: 4, length_penalty: 0.5, early_stopping: true } },
    });
    const gen = readGenerationConfig(dir);
    assert.equal(gen.numBeams, 4);
    assert.equal(gen.lengthPenalty, 0.5);
    assert.equal(gen.earlyStopping, true);
    assert.equal(gen.noRepeatNgramSize, 0);
  });

  it("names the folder and the missing file", () => {
    const dir = folderWith({});
    assert.throws(() => readModelConfig(dir), (err: Error) =>
      err.message.startsWith(`Cannot read ${path.join(dir, "config.json")}: there is no such file. A Florence-2 model folder`) &&
      err.message.endsWith("download the model again, or point to such a folder."));
  });

  it("names a corrupt JSON file and says to download the model again", () => {
    const dir = folderWith({ "preprocessor_config.json": "{ not json" });
    assert.throws(() => readPreprocessorConfig(dir), /preprocessor_config\.json is not valid JSON \(.*\): the file is corrupt or truncated\. .*download the model again/);
  });

  it("names a key of the wrong type", () => {
    const dir = folderWith({ "config.json": { text_config: { d_model: "768" } } });
    assert.throws(() => readModelConfig(dir), /config\.json text_config: expected a number for "d_model" but found "768"/);
  });
});
