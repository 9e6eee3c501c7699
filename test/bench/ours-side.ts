/**
 * Our engine as the benchmark runs it: `Florence2.load(folder)` and `model.run(imagePath, task, input)`, timed
 * from the image file to the parsed result like transformers.js.
 */
import type { Dtype } from "../../src/dtypes";
import { Florence2, type RunTimings } from "../../src/florence2";
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

export class OursSide implements BenchSide {
  private constructor(
    private readonly model: Florence2,
    readonly description: string,
  ) {}

  /**
   * `reuseImageFeatures` false for per-task runs (each run encodes the image, as transformers.js does); true for
   * the all-tasks sequence, where the engine's feature cache (keyed by the file's bytes) serves tasks 2 to 14.
   */
  static async load(folder: string, dtype: Dtype, session: SessionChoice, reuseImageFeatures: boolean): Promise<OursSide> {
    const model = await Florence2.load(folder, {
      dtype,
      cacheImageFeatures: reuseImageFeatures,
      ...(session.sessionOptions ? { sessionOptions: session.sessionOptions } : {}),
      ...(session.intraOpNumThreads !== undefined ? { intraOpNumThreads: session.intraOpNumThreads } : {}),
    });
    const threads = session.intraOpNumThreads === undefined ? "onnxruntime's thread count" : `${session.intraOpNumThreads} intra-op thread(s)`;
    const extra = session.sessionOptions ? `, session options ${JSON.stringify(session.sessionOptions)}` : "";
    return new OursSide(model, `engine defaults (src/sessions.ts), ${threads}${extra}`);
  }

  async run(imagePath: string, workload: TaskWorkload, numBeams: number): Promise<SideRun> {
    const out = await this.model.run(imagePath, workload.task.token, workload.input, { numBeams, maxNewTokens: workload.outputTokens });
    return { ids: out.ids, engine: engineFigures(out.timings) };
  }

  async runSequence(imagePath: string, workloads: readonly TaskWorkload[]): Promise<SequenceRun> {
    const perTask: SequenceRun["perTask"] = [];
    let visionRuns = 0;
    for (const workload of workloads) {
      const start = performance.now();
      const out = await this.model.run(imagePath, workload.task.token, workload.input, { numBeams: 1, maxNewTokens: workload.outputTokens });
      perTask.push({ wallMs: performance.now() - start, ids: out.ids });
      if (!out.timings.imageFeaturesCached) visionRuns++;
    }
    // The next sequence starts from a cold cache, as a notebook opening a new image would.
    this.model.clearImageCache();
    return { perTask, engine: { visionRuns } };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
