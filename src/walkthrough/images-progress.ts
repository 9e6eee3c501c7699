/**
 * Progress over the user's photos (`npm start -- --images`): photos done of all, time so far and the time left
 * (ETA, from the pace of this run's photos), and while a batch decodes, its tokens and tokens per second.
 *
 * On a terminal, one bar on stderr redrawn in place (at most every 200 ms); in a log or a pipe, one plain line per
 * batch; quiet, nothing. Messages (a skipped photo) go on their own line above the bar.
 */

export type ImagesProgressMode = "auto" | "bar" | "lines" | "silent";

export interface ImagesProgressOptions {
  /** "auto" (default): a bar on a terminal, lines otherwise. */
  mode?: ImagesProgressMode;
  /** Default stderr. */
  stream?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** The clock in milliseconds (tests). */
  now?: () => number;
}

export interface ImagesProgressState {
  /** Photos to go through in this run (those already in the results file not counted). */
  total: number;
  /** Photos finished in this run, skipped ones included. */
  done: number;
  skipped: number;
  /** Since the run started, in seconds. */
  seconds: number;
  /** Seconds left at the pace of this run's decoded photos; null before the first is done. */
  etaSeconds: number | null;
  /** The batch decoding now: its photos, tokens so far and tokens per second; null between batches. */
  batch: { images: number; tokens: number; tokensPerSecond: number } | null;
}

const BAR_INTERVAL_MS = 200;
const BAR_WIDTH = 20;

export class ImagesProgress {
  private readonly mode: Exclude<ImagesProgressMode, "auto">;
  private readonly stream: NonNullable<ImagesProgressOptions["stream"]>;
  private readonly now: () => number;
  private readonly started: number;
  private done = 0;
  private skipped = 0;
  private batch: { images: number; started: number; perRequest: number[]; tokens: number } | null = null;
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly total: number,
    options: ImagesProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    const mode = options.mode ?? "auto";
    this.mode = mode === "auto" ? (this.stream.isTTY ? "bar" : "lines") : mode;
    this.started = this.now();
  }

  /** A batch of `images` photos starts decoding. */
  batchStarted(images: number): void {
    this.batch = { images, started: this.now(), perRequest: [], tokens: 0 };
    this.redraw(true);
  }

  /** Pass as runBatch's `onToken`: counts the batch's tokens, all requests together. */
  readonly onToken = (ids: readonly number[], requestIndex: number): void => {
    const batch = this.batch;
    if (!batch) return;
    const count = Math.max(0, ids.length - 1); // without the decoder start token
    batch.tokens += count - (batch.perRequest[requestIndex] ?? 0);
    batch.perRequest[requestIndex] = count;
    this.redraw(false);
  };

  /** Photos finished (their results written), `skipped` of them skipped. */
  imagesDone(count: number, skipped = 0): void {
    this.done += count;
    this.skipped += skipped;
  }

  /** The batch is over: the bar shows the photos done; in lines mode, a line says so. */
  batchEnded(): void {
    this.batch = null;
    if (this.mode === "lines") this.stream.write(`${formatImagesLine(this.state())}\n`);
    else this.redraw(true);
  }

  /** A line of its own (above the bar on a terminal), e.g. a skipped photo. */
  message(text: string): void {
    if (this.mode === "bar" && this.drawn) this.stream.write("\r\x1b[K");
    this.stream.write(`${text}\n`);
    this.drawn = false;
    this.redraw(true);
  }

  /** Clears the bar. */
  finish(): void {
    if (this.mode === "bar" && this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }

  state(): ImagesProgressState {
    const time = this.now();
    const seconds = (time - this.started) / 1000;
    const batch = this.batch;
    const batchSeconds = batch ? (time - batch.started) / 1000 : 0;
    return {
      total: this.total,
      done: this.done,
      skipped: this.skipped,
      seconds,
      // At the pace of the photos decoded so far: a skipped photo takes no time and says nothing about the rest.
      etaSeconds: this.done > this.skipped ? (seconds / (this.done - this.skipped)) * (this.total - this.done) : null,
      batch: batch && { images: batch.images, tokens: batch.tokens, tokensPerSecond: batchSeconds > 0 ? batch.tokens / batchSeconds : 0 },
    };
  }

  private redraw(force: boolean): void {
    if (this.mode !== "bar") return;
    const time = this.now();
    if (!force && time - this.lastDraw < BAR_INTERVAL_MS) return;
    this.lastDraw = time;
    // A pty without a size reports 0 columns.
    const width = Math.max(40, (this.stream.columns || 100) - 1);
    this.stream.write(`\r${formatImagesLine(this.state(), { bar: true, width })}\x1b[K`);
    this.drawn = true;
  }
}

/**
 * `photos 12/40 (30%) [######..............] 1m05s elapsed, ETA 2m31s, 1 skipped | batch of 8 photos: 812 tokens,
 * 56.1 tokens/s`; without the bar, `photos 12/40 (30%), 1m05s elapsed, ...`.
 */
export function formatImagesLine(state: ImagesProgressState, options: { bar?: boolean; width?: number } = {}): string {
  const share = state.total > 0 ? state.done / state.total : 1;
  const filled = Math.round(share * BAR_WIDTH);
  const bar = options.bar ? ` [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]` : "";
  const skipped = state.skipped > 0 ? `, ${state.skipped} skipped` : "";
  const eta = state.etaSeconds === null ? "ETA –" : `ETA ${formatDuration(state.etaSeconds)}`;
  const counts = `photos ${state.done}/${state.total} (${Math.floor(share * 100)}%)`;
  let line = `${counts}${bar || ","} ${formatDuration(state.seconds)} elapsed, ${eta}${skipped}`;
  if (state.batch) {
    const photos = state.batch.images === 1 ? "1 photo" : `${state.batch.images} photos`;
    line += ` | batch of ${photos}: ${state.batch.tokens} tokens, ${state.batch.tokensPerSecond.toFixed(1)} tokens/s`;
  }
  return options.width !== undefined ? line.slice(0, options.width) : line;
}

/** "42s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
