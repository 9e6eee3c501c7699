/**
 * The benchmark as a function: generate or reuse the stand-in, run the chosen sections, return everything the
 * report needs. bench.ts is the command line around it; test/bench-smoke.test.ts runs it on the tiny stand-in.
 */
import * as fs from "node:fs";
import { readGenerationConfig } from "../../src/runtime/config";
import { buildPrompt } from "../../src/text/prompts";
import { Florence2Tokenizer } from "../../src/text/tokenizer";
import { runAllTasks } from "./all-tasks";
import type { BenchContext } from "./context";
import { runDtypes } from "./dtypes-section";
import { runLongBeams } from "./long-beams";
import { loadNow, machineInfo } from "./machine";
import { ensureBenchModel, modelBytes } from "./models";
import { LONG_TOKENS, type BenchOptions } from "./options";
import { runPerTask } from "./per-task";
import type { BenchResults } from "./report";
import { SAMPLE_HEIGHT, SAMPLE_WIDTH, sampleImage, textSampleImage } from "./sample-image";
import { runBatchSection } from "./batch-section";
import { runSessionOptions } from "./session-options";
import { runSoak } from "./soak";
import { longestOutput, walkthroughWorkloads } from "./workload";

/**
 * One script length for every invocation, whatever the flags, so that the stand-in generated once is reused:
 * it covers all 14 tasks and the long beam-search measurement.
 */
const SCRIPT_TOKENS = Math.max(longestOutput(walkthroughWorkloads()), LONG_TOKENS);
/** Both variants the benchmark can time, written in one go so that no flag makes it regenerate. */
const BENCH_DTYPES = ["fp32", "q8"] as const;

function scriptedTexts(context: BenchContext): BenchResults["scripted"] {
  const tokenizer = Florence2Tokenizer.fromFolder(context.model.folder);
  const size = { width: SAMPLE_WIDTH, height: SAMPLE_HEIGHT };
  const { script, folder } = context.model;
  const { decoderStartTokenId, eosTokenId } = readGenerationConfig(folder);
  return context.options.workloads.map((workload) => ({
    workload,
    promptTokens: tokenizer.encode(buildPrompt(workload.task.token, workload.input, size)).length,
    text: tokenizer.decode([decoderStartTokenId, ...script.slice(0, workload.outputTokens - 1), eosTokenId]),
  }));
}

export async function runBenchmark(options: BenchOptions, argv: string[], log: (line: string) => void): Promise<BenchResults> {
  const started = performance.now();
  const machine = machineInfo();
  log(`Florence-2 benchmark: ${options.size} stand-in, ${options.dtype}, ${machine.cpu} x${machine.logicalCores}, load ${machine.loadAtStart.toFixed(2)}`);
  if (options.profileDir !== undefined) fs.mkdirSync(options.profileDir, { recursive: true });
  const model = await ensureBenchModel(options.modelsDir, options.size, BENCH_DTYPES, SCRIPT_TOKENS, log);
  const image = await sampleImage(options.modelsDir);
  const context: BenchContext = {
    options,
    model,
    image,
    textImage: textSampleImage(image),
    oursSession: {
      device: options.device,
      ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
      ...(options.sessionOptions === undefined ? {} : { sessionOptions: options.sessionOptions }),
    },
    log,
  };
  const results: BenchResults = {
    options,
    argv,
    machine,
    loadAtEnd: 0,
    model,
    modelBytes: modelBytes(model.folder, options.dtype),
    image,
    textImage: context.textImage,
    durationS: 0,
    scripted: scriptedTexts(context),
  };
  const has = (section: BenchOptions["sections"][number]) => options.sections.includes(section);
  if (has("per-task") || has("all-tasks")) results.perTask = await runPerTask(context);
  if (has("all-tasks") && results.perTask) results.allTasks = await runAllTasks(context, results.perTask);
  if (has("batch")) results.batch = await runBatchSection(context);
  if (has("long-beams")) results.longBeams = await runLongBeams(context);
  if (has("soak")) results.soak = await runSoak(context);
  if (has("session-options")) results.sessionOptions = await runSessionOptions(context);
  if (has("dtypes")) results.dtypes = await runDtypes(context);
  results.loadAtEnd = loadNow();
  results.durationS = (performance.now() - started) / 1000;
  return results;
}
