/**
 * The peer: `@huggingface/transformers` 4.3.1 running the same stand-in folder on the same onnxruntime-node,
 * called the way its Florence-2 documentation shows (processor -> generate -> batch_decode ->
 * post_process_generation), fully offline. It is timed from the image file to the parsed result, like our side.
 */
import {
  AutoProcessor,
  env,
  Florence2ForConditionalGeneration,
  RawImage,
  type PretrainedModelOptions,
} from "@huggingface/transformers";
import type { Dtype } from "../../src/runtime/dtypes";
import { boxToLocTokens } from "../../src/text/prompts";
import type { ResultKind } from "../../src/text/tasks";
import type { SessionChoice } from "./protocol";
import type { BenchSide, SequenceRun, SideRun } from "./side";
import type { TaskWorkload } from "./workload";

/** The result kinds transformers.js' Florence2Processor parses; it throws "not yet implemented" for the others. */
const TRANSFORMERS_JS_KINDS: readonly ResultKind[] = ["pure_text", "description_with_bboxes", "bboxes", "phrase_grounding", "ocr"];

/** What the benchmark uses of transformers.js' processor (its typings describe the generic Processor). */
interface Florence2ProcessorLike {
  (image: RawImage, text: string): Promise<Record<string, unknown>>;
  batch_decode(ids: unknown, options: { skip_special_tokens: boolean }): string[];
  post_process_generation(text: string, task: string, imageSize: [number, number]): Record<string, unknown>;
  tokenizer: { model: unknown };
}

interface Florence2ModelLike {
  generate(inputs: Record<string, unknown>): Promise<{ tolist(): bigint[][] }>;
  dispose(): Promise<unknown>;
}

/** Local files only: no Hub lookups, no file cache written into node_modules. */
function configureOffline(): void {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useFSCache = false;
  env.useBrowserCache = false;
}

/**
 * The text a transformers.js user passes for a task: the task token, plus the phrase, or plus the region as
 * `<loc_*>` tokens (transformers.js takes no pixel boxes). Its processor turns that into the English prompt with
 * the task tables in preprocessor_config.json, giving the same prompt our engine builds.
 */
function taskText(workload: TaskWorkload, image: { width: number; height: number }): string {
  const { task, input } = workload;
  if (input === undefined) return task.token;
  return task.token + (typeof input === "string" ? input : boxToLocTokens(input, image));
}

export class TransformersJsSide implements BenchSide {
  private constructor(
    private readonly model: Florence2ModelLike,
    private readonly processor: Florence2ProcessorLike,
    readonly description: string,
    readonly device = "CPU",
  ) {}

  /**
   * Loads the folder by absolute path (transformers.js then reads it as a local directory, never as a Hub id).
   * Session options left undefined keep transformers.js' own defaults, which is what its users get.
   */
  static async load(folder: string, dtype: Dtype, session: SessionChoice): Promise<TransformersJsSide> {
    configureOffline();
    const options: PretrainedModelOptions = { dtype, device: "cpu", local_files_only: true };
    const sessionOptions = {
      ...session.sessionOptions,
      ...(session.intraOpNumThreads !== undefined ? { intraOpNumThreads: session.intraOpNumThreads } : {}),
    };
    const custom = Object.keys(sessionOptions).length > 0;
    if (custom) options.session_options = sessionOptions;
    const model = (await Florence2ForConditionalGeneration.from_pretrained(folder, options)) as unknown as Florence2ModelLike;
    const processor = (await AutoProcessor.from_pretrained(folder, { local_files_only: true })) as unknown as Florence2ProcessorLike;
    const description = custom ? `session options ${JSON.stringify(sessionOptions)}` : "its defaults (onnxruntime's: thread count, optimization level all, arena and memory pattern on)";
    return new TransformersJsSide(model, processor, description);
  }

  /**
   * One task, greedy: transformers.js 4.3.1 has no beam search (num_beams > 1 still decodes one sequence), so
   * greedy is the only comparison that runs the same algorithm on both sides.
   */
  async run(imagePath: string, workload: TaskWorkload, numBeams: number): Promise<SideRun> {
    if (numBeams !== 1) throw new Error(`transformers.js 4.3.1 has no beam search; the benchmark runs it greedy only (asked for ${numBeams} beams).`);
    const image = await RawImage.read(imagePath);
    const inputs = await this.processor(image, taskText(workload, image));
    const generated = await this.model.generate({
      ...inputs,
      max_new_tokens: workload.outputTokens,
      num_beams: 1,
      do_sample: false,
    });
    const text = this.processor.batch_decode(generated, { skip_special_tokens: false })[0];
    const postProcessed = TRANSFORMERS_JS_KINDS.includes(workload.task.resultKind);
    if (postProcessed) this.processor.post_process_generation(text, workload.task.token, [image.width, image.height]);
    return { ids: generated.tolist()[0].map(Number), engine: {}, postProcessed };
  }

  /** transformers.js reuses nothing between calls: a sequence is separate runs. */
  async runSequence(imagePaths: readonly string[], workloads: readonly TaskWorkload[]): Promise<SequenceRun> {
    const perTask: SequenceRun["perTask"] = [];
    for (const [i, workload] of workloads.entries()) {
      const start = performance.now();
      const { ids } = await this.run(imagePaths[i], workload, 1);
      perTask.push({ wallMs: performance.now() - start, ids });
    }
    return { perTask, engine: {} };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
