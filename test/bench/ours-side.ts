/**
 * Our engine as the benchmark runs it: `Florence2.load(folder)` and `model.run(imagePath, task, input)`, timed
 * from the image file to the parsed result like transformers.js.
 */
import type { Dtype } from "../../src/runtime/dtypes";
import { Florence2, type BatchTimings, type ImageFeatures, type RunTimings } from "../../src/florence2";
import type { SessionChoice } from "./protocol";
import type { BenchSide, SequenceRun, SideRun } from "./side";
import type { TaskWorkload } from "./workload";

/** The engine's timings under the names the report reads (milliseconds, counts, 0/1). */
function engineFigures(t: RunTimings): Record<string, number> {
  return {
    preprocessMs: t.preprocess,
    engineVisionMs: t.vision,
    engineEncoderMs: t.encoder,
    decoderLoopMs: t.decoder,
    steps: t.decoderSteps,
    postprocessMs: t.postprocess,
    totalMs: t.total,
    sessionRunMs: t.sessionRun,
    searchMs: t.search,
    featuresCached: t.imageFeaturesCached ? 1 : 0,
  };
}

export interface ManyItem {
  workload: TaskWorkload;
  imagePath: string;
}

export interface ManyOptions {
  mode: "sequential" | "batched";
  numBeams: number;
  earlyStopping: boolean;
  maxBatchRows?: number;
}

export class OursSide implements BenchSide {
  private constructor(
    private readonly model: Florence2,
    readonly description: string,
  ) {}

  get device(): string {
    return this.model.device.label;
  }

  /**
   * `reuseImageFeatures` false for per-task runs (each run encodes the image, as transformers.js does); true for
   * the all-tasks sequence, where the engine's feature cache (keyed by the file's bytes) serves tasks 2 to 14.
   */
  static async load(folder: string, dtype: Dtype, session: SessionChoice, reuseImageFeatures: boolean): Promise<OursSide> {
    const model = await Florence2.load(folder, {
      dtype,
      device: session.device ?? "cpu",
      cacheImageFeatures: reuseImageFeatures,
      ...(session.sessionOptions ? { sessionOptions: session.sessionOptions } : {}),
      ...(session.intraOpNumThreads !== undefined ? { intraOpNumThreads: session.intraOpNumThreads } : {}),
    });
    const threads = session.intraOpNumThreads === undefined ? "onnxruntime's thread count" : `${session.intraOpNumThreads} intra-op thread(s)`;
    const extra = session.sessionOptions ? `, session options ${JSON.stringify(session.sessionOptions)}` : "";
    return new OursSide(model, `${model.device.summary} Engine defaults (src/runtime/sessions.ts), ${threads}${extra}`);
  }

  async run(imagePath: string, workload: TaskWorkload, numBeams: number): Promise<SideRun> {
    const out = await this.model.run(imagePath, workload.task.token, workload.input, { numBeams, maxNewTokens: workload.outputTokens });
    return { ids: out.ids, engine: engineFigures(out.timings) };
  }

  async runSequence(imagePaths: readonly string[], workloads: readonly TaskWorkload[]): Promise<SequenceRun> {
    const perTask: SequenceRun["perTask"] = [];
    let visionRuns = 0;
    for (const [i, workload] of workloads.entries()) {
      const start = performance.now();
      const out = await this.model.run(imagePaths[i], workload.task.token, workload.input, { numBeams: 1, maxNewTokens: workload.outputTokens });
      perTask.push({ wallMs: performance.now() - start, ids: out.ids });
      if (!out.timings.imageFeaturesCached) visionRuns++;
    }
    // The next sequence starts from a cold cache, as a notebook opening a new image would.
    this.model.clearImageCache();
    return { perTask, engine: { visionRuns } };
  }

  /**
   * The images of `items` as `runMany` will get them: each distinct photo's features when `featuresFirst` (the
   * vision encoder then runs here, before the clock), else the paths.
   */
  async prepareMany(items: readonly ManyItem[], featuresFirst: boolean): Promise<(string | ImageFeatures)[]> {
    if (!featuresFirst) return items.map((item) => item.imagePath);
    const features = new Map<string, ImageFeatures>();
    for (const { imagePath } of items) if (!features.has(imagePath)) features.set(imagePath, await this.model.encodeImage(imagePath));
    return items.map((item) => features.get(item.imagePath) as ImageFeatures);
  }

  /**
   * The items one `run` after another, or all in one `runBatch`; each item stops after its scripted length
   * (its own maxNewTokens).
   */
  async runMany(items: readonly ManyItem[], images: readonly (string | ImageFeatures)[], options: ManyOptions): Promise<{ ids: number[][]; batch?: BatchTimings }> {
    const { numBeams, earlyStopping, mode, maxBatchRows } = options;
    if (mode === "sequential") {
      const ids: number[][] = [];
      for (const [i, { workload }] of items.entries()) {
        const out = await this.model.run(images[i], workload.task.token, workload.input, { numBeams, earlyStopping, maxNewTokens: workload.outputTokens });
        ids.push(out.ids);
      }
      return { ids };
    }
    const requests = items.map(({ workload }, i) => ({ image: images[i], task: workload.task.token, input: workload.input, options: { maxNewTokens: workload.outputTokens } }));
    const outs = await this.model.runBatch(requests, { numBeams, earlyStopping, ...(maxBatchRows === undefined ? {} : { maxBatchRows }) });
    return { ids: outs.map((o) => o.ids), batch: outs[0]?.timings.batch };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
