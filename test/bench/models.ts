/**
 * The benchmark's stand-in models, generated into the ignored `bench-models/` folder and reused while nothing
 * that shaped them changed (a stamp records the generator's source hash, size, seed, dtypes and script).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { MODULES, onnxFilePath, type Dtype } from "../../src/runtime/dtypes";
import { readGenerationConfig } from "../../src/runtime/config";
import { relativeImportClosure } from "../support/imports";
import { writeStandInModel, type StandInSize } from "../support/standin";
import { buildBenchScript, checkScript, type ScriptIds } from "./script";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const DEFAULT_MODELS_DIR = path.join(REPO_ROOT, "bench-models");
const STANDIN_ENTRY = path.join(REPO_ROOT, "src", "standin", "index.ts");
const STAMP = "bench-stamp.json";
/** Fixed, so that every run of the benchmark times the same weights and the same script. */
const BENCH_SEED = 1;

export interface BenchModel {
  folder: string;
  size: StandInSize;
  dtypes: Dtype[];
  /** The scripted output, `<s>` ... `</s>`: every task emits a prefix of it, ended by a forced `</s>`. */
  script: number[];
  /** Whether this call generated the folder (false: reused). */
  generated: boolean;
  /** Seconds spent generating (0 when reused). */
  generateSeconds: number;
}

interface Stamp {
  generator: string;
  size: StandInSize;
  seed: number;
  dtypes: Dtype[];
  script: string;
}

/**
 * Hash of the stand-in generator's sources, src/standin/ and the library files it imports (float16.ts,
 * cache-tensors.ts, ...): a changed generator means regenerated models.
 */
function generatorHash(): string {
  const hash = createHash("sha256");
  for (const file of relativeImportClosure([STANDIN_ENTRY]).files) {
    hash.update(path.relative(REPO_ROOT, file)).update(fs.readFileSync(file));
  }
  return hash.digest("hex").slice(0, 16);
}

function scriptHash(script: readonly number[]): string {
  return createHash("sha256").update(script.join(",")).digest("hex").slice(0, 16);
}

function readStamp(folder: string): Stamp | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(folder, STAMP), "utf8")) as Stamp;
  } catch {
    return undefined;
  }
}

function openTokenizer(folder: string): Tokenizer {
  const read = (file: string) => JSON.parse(fs.readFileSync(path.join(folder, file), "utf8")) as Record<string, unknown>;
  return new Tokenizer(read("tokenizer.json"), read("tokenizer_config.json"));
}

/**
 * The script for a model of this tokenizer. The tokenizer a stand-in gets (the real one when ../shared is
 * present, else a generated one) is known only once a folder is written, so a tiny stand-in (milliseconds) is
 * written first to read it from.
 */
async function scriptFor(modelsDir: string, totalTokens: number): Promise<{ script: number[]; ids: ScriptIds }> {
  const probe = path.join(modelsDir, "tokenizer-probe");
  await writeStandInModel(probe, { size: "tiny", seed: BENCH_SEED });
  const tokenizer = openTokenizer(probe);
  const generation = readGenerationConfig(probe);
  // The library reads no bos_token_id (the tokenizer adds <s> itself); the script needs it to stay a valid answer.
  const bos = (JSON.parse(fs.readFileSync(path.join(probe, "generation_config.json"), "utf8")) as { bos_token_id: number }).bos_token_id;
  const ids: ScriptIds = { bos, eos: generation.eosTokenId, decoderStart: generation.decoderStartTokenId };
  const script = buildBenchScript({ encode: (text) => tokenizer.encode(text).ids }, totalTokens, ids, BENCH_SEED);
  checkScript(script, ids);
  return { script, ids };
}

/**
 * A stand-in of this size with these dtypes whose script is `scriptTokens` long, generated unless an identical
 * one is already in `modelsDir`. `log` hears about generation, which takes seconds (base) to tens of seconds (large).
 */
export async function ensureBenchModel(
  modelsDir: string,
  size: StandInSize,
  dtypes: readonly Dtype[],
  scriptTokens: number,
  log: (line: string) => void,
): Promise<BenchModel> {
  fs.mkdirSync(modelsDir, { recursive: true });
  const { script } = await scriptFor(modelsDir, scriptTokens);
  const folder = path.join(modelsDir, size);
  const wanted: Stamp = { generator: generatorHash(), size, seed: BENCH_SEED, dtypes: [...dtypes].sort(), script: scriptHash(script) };
  const stamp = readStamp(folder);
  const reusable =
    stamp !== undefined &&
    stamp.generator === wanted.generator &&
    stamp.size === size &&
    stamp.seed === wanted.seed &&
    stamp.script === wanted.script &&
    wanted.dtypes.every((d) => stamp.dtypes.includes(d));
  if (reusable) return { folder, size, dtypes: stamp.dtypes, script, generated: false, generateSeconds: 0 };

  // Removing the stamp first means an interrupted generation is redone next time, never reused half-written.
  fs.rmSync(path.join(folder, STAMP), { force: true });
  const all = [...new Set([...(stamp && stamp.generator === wanted.generator ? stamp.dtypes : []), ...wanted.dtypes])].sort();
  log(`Generating the ${size} stand-in (${all.join(", ")}) into ${path.relative(REPO_ROOT, folder)} ...`);
  const start = performance.now();
  await writeStandInModel(folder, { size, dtypes: all, script, seed: BENCH_SEED });
  const generateSeconds = (performance.now() - start) / 1000;
  fs.writeFileSync(path.join(folder, STAMP), JSON.stringify({ ...wanted, dtypes: all }, null, 2) + "\n");
  log(`  done in ${generateSeconds.toFixed(1)} s`);
  return { folder, size, dtypes: all, script, generated: true, generateSeconds };
}

/** Bytes of the ONNX files (graph + external data) of one dtype: what a user downloads for it. */
export function modelBytes(folder: string, dtype: Dtype): number {
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
  return MODULES.reduce((sum, module) => {
    const file = path.join(folder, onnxFilePath(module, dtype));
    return sum + size(file) + size(`${file}_data`);
  }, 0);
}
