/**
 * Where a run's time went: the timing types `run`/`runBatch` return, and the stopwatches that fill them. The
 * clocks measure the batch as it runs (each image once, each wave's encoder run, each decoder step); a request's
 * figures are its shares of that work, computed here, so that any figure summed over a batch's outputs gives the
 * batch's own.
 */

/**
 * Milliseconds per stage of one request. For `run` they are the run's own times. For a request of `runBatch`,
 * whose work is shared with the others, each figure is the request's share: its image's reading and vision
 * encoder run split among the requests on that image, the text encoder split among its wave's requests, each
 * decoder step split among the requests in it by their rows, its own token choice and post-processing, and an
 * equal share of what no stage accounts for. So any figure summed over a batch's outputs gives the batch's total,
 * which `batch` holds with the batch's other figures.
 */
export interface RunTimings {
  /** Reading, hashing, resizing and normalising the image; building and tokenizing the prompt. */
  preprocess: number;
  /** The vision encoder (0 when the features came from the cache). */
  vision: number;
  /** Prompt embedding and the text encoder. */
  encoder: number;
  /** The decoder loop, token choice included. */
  decoder: number;
  /**
   * Decoder steps the request took part in: its generated tokens for greedy search; with beams, the steps until
   * its search stopped, which can be more than the chosen hypothesis' tokens (it may have finished earlier).
   */
  decoderSteps: number;
  /** Decoding the ids to text and post-processing. */
  postprocess: number;
  total: number;
  /** Whether the image features came from the model's cache or were passed in (no vision encoder run for it). */
  imageFeaturesCached: boolean;
  /** Time inside session.run, all sessions together; total - sessionRun is everything else. */
  sessionRun: number;
  /** Of the decoder time: token choice (processors, greedy/beam bookkeeping) and cache row work. */
  search: number;
  /** `runBatch` only: the whole batch's figures (one object, shared by all its outputs). */
  batch?: BatchTimings;
}

/** A whole `runBatch` call: wall time per stage (not shares) and how the decoder ran. */
export interface BatchTimings {
  requests: number;
  /** Decoder waves (see BatchOptions.maxBatchRows). */
  waves: number;
  /** Distinct images, and how many of them the vision encoder ran for (the rest came from the cache). */
  images: number;
  visionRuns: number;
  total: number;
  preprocess: number;
  vision: number;
  encoder: number;
  decoder: number;
  postprocess: number;
  sessionRun: number;
  search: number;
  /** Decoder steps (session runs) of all waves, and the most rows one of them ran. */
  decoderSteps: number;
  maxRows: number;
  /** Decoder steps by their number of rows, with their wall time: where the decoder time went. */
  stepsByRows: StepsByRows[];
}

/**
 * Where one request's decoder time went. In a wave the step costs are shared: each step's time is split among
 * the requests that took part, in proportion to their rows, so the requests' figures add up to the wave's.
 */
export interface GenerationStats {
  /** Decoder steps the request took part in (see RunTimings.decoderSteps). */
  steps: number;
  /** Its share of the decoder loop's wall time. */
  decoderMs: number;
  /** Of which its share of the time inside session.run (embed_tokens and the decoder). */
  sessionMs: number;
  /** Of which its own token choice: logits processors, greedy or beam bookkeeping. */
  searchMs: number;
  /** Of which its share of repeating and removing cache rows, plus its own beam row copies. */
  cacheMs: number;
  /** Its cache rows copied because several of its beams continued the same beam. */
  cacheRowCopies: number;
}

/** Decoder steps that ran `rows` rows, and their wall time: where a batch's decoder time goes. */
export interface StepsByRows {
  rows: number;
  steps: number;
  ms: number;
}

/** One wave's decoder loop as a whole. */
export interface WaveStats {
  /** Decoder session runs (the longest request's tokens). */
  steps: number;
  decoderMs: number;
  sessionMs: number;
  searchMs: number;
  cacheMs: number;
  /** Most rows in one step. */
  maxRows: number;
  /** Ascending by rows. */
  stepsByRows: StepsByRows[];
}

export function emptyGenerationStats(): GenerationStats {
  return { steps: 0, decoderMs: 0, sessionMs: 0, searchMs: 0, cacheMs: 0, cacheRowCopies: 0 };
}

export function emptyWaveStats(): WaveStats {
  return { steps: 0, decoderMs: 0, sessionMs: 0, searchMs: 0, cacheMs: 0, maxRows: 0, stepsByRows: [] };
}

export function sumOf<T>(items: Iterable<T>, value: (item: T) => number): number {
  let sum = 0;
  for (const item of items) sum += value(item);
  return sum;
}

// ---------------------------------------------------------------------------------------------------------------
// One decoder step

/** A request taking part in a decoder step: its statistics, its rows, and this step's own work in ms. */
export interface StepParticipant {
  stats: GenerationStats;
  rows: ArrayLike<number>;
  /** Its token choice (and its beams' row copies) in this step. */
  ownMs: number;
  /** Of ownMs, its beams' row copies. */
  copyMs: number;
}

/** The decoder step's counters (decoder-step.ts `DecoderStepStats`) a step clock reads. */
interface StepCounters {
  readonly rows: number;
  readonly stats: { readonly sessionMs: number; readonly rowMs: number };
}

/** A decoder step's stopwatch: started before the session run, ended once the rows are rearranged. */
export class StepClock {
  private readonly started = performance.now();
  private readonly sessionMs: number;
  private readonly rowMs: number;
  private readonly rows: number;
  /** The requests in the step and their rows then. */
  private readonly stepping: { r: StepParticipant; rows: number }[];

  constructor(counters: StepCounters, live: readonly StepParticipant[]) {
    this.sessionMs = counters.stats.sessionMs;
    this.rowMs = counters.stats.rowMs;
    this.rows = counters.rows;
    this.stepping = live.map((r) => ({ r, rows: r.rows.length }));
  }

  /** Shares out the step's time: each request's own work, plus the rest in proportion to its rows. */
  end(counters: StepCounters, wave: WaveStats): void {
    const stepMs = performance.now() - this.started;
    const sessionMs = counters.stats.sessionMs - this.sessionMs;
    const ownMs = sumOf(this.stepping, (s) => s.r.ownMs);
    const sharedRowMs = Math.max(0, counters.stats.rowMs - this.rowMs - sumOf(this.stepping, (s) => s.r.copyMs));
    for (const { r, rows } of this.stepping) {
      const share = rows / this.rows;
      r.stats.decoderMs += r.ownMs + (stepMs - ownMs) * share;
      r.stats.sessionMs += sessionMs * share;
      r.stats.cacheMs += sharedRowMs * share;
    }
    wave.steps++;
    wave.sessionMs += sessionMs;
    wave.maxRows = Math.max(wave.maxRows, this.rows);
    addSteps(wave.stepsByRows, { rows: this.rows, steps: 1, ms: stepMs });
  }
}

function addSteps(byRows: StepsByRows[], add: StepsByRows): void {
  const known = byRows.find((e) => e.rows === add.rows);
  if (known) {
    known.steps += add.steps;
    known.ms += add.ms;
  } else {
    byRows.push({ ...add });
    byRows.sort((a, b) => a.rows - b.rows);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A whole batch

/** What the batch clock needs to know of the image a request ran on. */
export interface ImageTime {
  /** Requests on the image. */
  jobs: readonly number[];
  /** Reading and preprocessing, and the vision encoder, in ms. */
  preprocessMs: number;
  visionMs: number;
  /** Whether its features came from the cache or were passed in. */
  cached: boolean;
}

/**
 * The stopwatch of one `run`/`runBatch`: each stage is timed once as the batch runs it (prompts per request,
 * the text encoder per wave, the decoder per wave, post-processing per request); `finish` shares them out.
 */
export class BatchClock {
  private readonly started = performance.now();
  private readonly promptMs: number[];
  private readonly encoderMs: number[];
  private readonly postMs: number[];
  readonly batch: BatchTimings;

  /** `batch.images` is for the caller to fill in once the batch's images are known. */
  constructor(requests: number, waves: number) {
    this.promptMs = new Array<number>(requests).fill(0);
    this.encoderMs = new Array<number>(requests).fill(0);
    this.postMs = new Array<number>(requests).fill(0);
    this.batch = {
      requests, waves, images: 0, visionRuns: 0, total: 0, preprocess: 0, vision: 0, encoder: 0, decoder: 0, postprocess: 0,
      sessionRun: 0, search: 0, decoderSteps: 0, maxRows: 0, stepsByRows: [],
    };
  }

  /** Building and tokenizing request i's prompt once its image size was known. */
  prompt(i: number, ms: number): void {
    this.promptMs[i] += ms;
  }

  /** A wave's text encoder run, shared equally by its requests. */
  encoder(wave: readonly number[], ms: number): void {
    for (const i of wave) this.encoderMs[i] = ms / wave.length;
    this.batch.encoder += ms;
  }

  /** A wave's decoder loop. */
  decoder(wave: WaveStats): void {
    const { batch } = this;
    batch.decoder += wave.decoderMs;
    batch.decoderSteps += wave.steps;
    batch.sessionRun += wave.sessionMs;
    batch.search += wave.searchMs + wave.cacheMs;
    batch.maxRows = Math.max(batch.maxRows, wave.maxRows);
    for (const entry of wave.stepsByRows) addSteps(batch.stepsByRows, entry);
  }

  /** Decoding request i's ids to text and post-processing them. */
  postprocess(i: number, ms: number): void {
    this.postMs[i] = ms;
  }

  /**
   * Each request's timings: its shares of its image's reading and vision run, of its wave's encoder run and of
   * the decoder steps it took part in, its own prompt and post-processing time, and an equal share of what no
   * stage accounts for; the batch's totals in `batch`. `imageOf[i]` is request i's image, `stats[i]` its decoding.
   */
  finish(imageOf: readonly ImageTime[], stats: readonly GenerationStats[]): RunTimings[] {
    const { batch, promptMs, encoderMs, postMs } = this;
    const timings: RunTimings[] = stats.map((s, i) => {
      const image = imageOf[i];
      const vision = image.visionMs / image.jobs.length;
      return {
        preprocess: image.preprocessMs / image.jobs.length + promptMs[i],
        vision,
        encoder: encoderMs[i],
        decoder: s.decoderMs,
        decoderSteps: s.steps,
        postprocess: postMs[i],
        total: 0,
        imageFeaturesCached: image.cached,
        sessionRun: vision + encoderMs[i] + s.sessionMs,
        search: s.searchMs + s.cacheMs,
        batch,
      };
    });
    const stageSum = (t: RunTimings) => t.preprocess + t.vision + t.encoder + t.decoder + t.postprocess;
    batch.total = performance.now() - this.started;
    const unaccounted = Math.max(0, batch.total - sumOf(timings, stageSum)) / timings.length;
    for (const t of timings) t.total = stageSum(t) + unaccounted;
    for (const image of new Set(imageOf)) {
      batch.preprocess += image.preprocessMs;
      batch.vision += image.visionMs;
      if (image.visionMs > 0) batch.visionRuns++;
    }
    batch.preprocess += sumOf(promptMs, (ms) => ms);
    batch.postprocess = sumOf(postMs, (ms) => ms);
    batch.sessionRun += batch.vision + batch.encoder;
    return timings;
  }
}
