/**
 * Entry point of a benchmark child process (forked by child-client.ts). It holds at most one side (our engine
 * or transformers.js), answers one request at a time, and times everything itself, so that IPC never counts.
 */
import { getTask } from "../../src/text/tasks";
import type {
  LoadRequest,
  LoadResult,
  ManyRequest,
  ManyResult,
  Request,
  Response,
  RunRequest,
  RunResult,
  SequenceRequest,
  SequenceResult,
  SoakRequest,
  SoakResult,
  WorkloadSpec,
} from "./protocol";
import { measure } from "./measure";
import { rssBytes } from "./memory";
import { installSessionTimer } from "./session-timer";
import { probeSessions } from "./session-probe";
import type { BenchSide } from "./side";
import type { TaskWorkload } from "./workload";

installSessionTimer();

let side: BenchSide | undefined;
let script: number[] = [];

function loaded(): BenchSide {
  if (!side) throw new Error("No side loaded in this benchmark child: send a load request first.");
  return side;
}

/** The ids a greedy or beam run must produce: start token, the script's first `tokens - 1` ids, `</s>`. */
function asScripted(ids: readonly number[], tokens: number): boolean {
  const expected = [ids[0], ...script.slice(0, tokens - 1), script[script.length - 1]];
  return ids.length === expected.length && ids.every((id, i) => id === expected[i]);
}

function fromSpec(spec: WorkloadSpec): TaskWorkload {
  return { task: getTask(spec.task), input: spec.input, outputTokens: spec.outputTokens };
}

async function load(request: LoadRequest): Promise<LoadResult> {
  script = request.script;
  const start = performance.now();
  if (request.side === "ours") {
    const { OursSide } = await import("./ours-side");
    side = await OursSide.load(request.folder, request.dtype, request.session, request.reuseImageFeatures);
  } else {
    const { TransformersJsSide } = await import("./transformers-side");
    side = await TransformersJsSide.load(request.folder, request.dtype, request.session);
  }
  return { loadMs: performance.now() - start, rssBytes: rssBytes(), description: loaded().description, device: loaded().device };
}

async function run(request: RunRequest): Promise<RunResult> {
  const workload = fromSpec(request.workload);
  const { value, measurement } = await measure(() => loaded().run(request.imagePath, workload, request.numBeams));
  return {
    measurement,
    ids: value.ids,
    idsAsScripted: asScripted(value.ids, workload.outputTokens),
    engine: value.engine,
    postProcessed: value.postProcessed,
  };
}

async function sequence(request: SequenceRequest): Promise<SequenceResult> {
  const workloads = request.workloads.map(fromSpec);
  const { value, measurement } = await measure(() => loaded().runSequence(request.imagePaths, workloads));
  return {
    measurement,
    perTask: value.perTask.map((r, i) => ({
      task: workloads[i].task.token,
      wallMs: r.wallMs,
      tokens: r.ids.length - 1,
      idsAsScripted: asScripted(r.ids, workloads[i].outputTokens),
    })),
    engine: value.engine,
  };
}

async function many(request: ManyRequest): Promise<ManyResult> {
  const { OursSide } = await import("./ours-side");
  const ours = loaded();
  if (!(ours instanceof OursSide)) throw new Error("Only our engine runs batches: load the ours side for a many request.");
  const items = request.items.map((item) => ({ workload: fromSpec(item.workload), imagePath: item.imagePath }));
  const images = await ours.prepareMany(items, request.featuresFirst);
  const { value, measurement } = await measure(() => ours.runMany(items, images, request));
  const { stepsByRows, ...batch } = value.batch ?? {};
  return {
    measurement,
    perItem: value.ids.map((ids, i) => ({ ids, idsAsScripted: asScripted(ids, items[i].workload.outputTokens) })),
    ...(value.batch ? { batch: batch as Record<string, number>, stepsByRows } : {}),
  };
}

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

async function soak(request: SoakRequest): Promise<SoakResult> {
  const workload = fromSpec(request.workload);
  const before = countResources();
  const rssAfterRunBytes: number[] = [];
  const start = performance.now();
  for (let i = 0; i < request.runs; i++) {
    await loaded().run(request.imagePath, workload, 1);
    rssAfterRunBytes.push(rssBytes());
  }
  return { rssAfterRunBytes, activeResourcesBefore: before, activeResourcesAfter: countResources(), wallMs: performance.now() - start };
}

async function handle(request: Request): Promise<unknown> {
  switch (request.kind) {
    case "load":
      return load(request);
    case "run":
      return run(request);
    case "sequence":
      return sequence(request);
    case "many":
      return many(request);
    case "soak":
      return soak(request);
    case "probe":
      return probeSessions(request);
  }
}

process.on("message", (request: Request) => {
  handle(request).then(
    (value) => process.send?.({ ok: true, value } satisfies Response),
    (err: unknown) => process.send?.({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Response),
  );
});
process.on("disconnect", () => {
  void side?.dispose().finally(() => process.exit(0));
  if (!side) process.exit(0);
});
