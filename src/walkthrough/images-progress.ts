/**
 * Progress over the user's photos (`npm start -- --images`), a view on the display layer
 * (notebook/progress-display.ts): photos done of all, time so far and the time left (ETA, from the pace of this
 * run's photos), and while a batch decodes, its tokens and tokens per second.
 *
 * On a terminal, one line with a bar on stderr redrawn in place (at most every 200 ms); in a log or a pipe, one
 * plain line per batch; in a notebook, one display entry; silent, no progress. Messages (a skipped photo) go on
 * their own line above the progress line, silent or not: they report what happened to the user's photos.
 */
import {
  formatBar,
  formatDuration,
  formatPercent,
  formatRate,
  openSurface,
  resolveDisplayMode,
  type DisplayMode,
  type DisplayOption,
  type ProgressSurface,
} from "../notebook/progress-display";

/** The display layer's modes; `"bar"` is the older name of `"terminal"`. */
export type ImagesProgressMode = Exclude<DisplayOption, boolean>;

export interface ImagesProgressOptions {
  /** "auto" (default): the progress line on a terminal, lines otherwise. */
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

const TERMINAL_INTERVAL_MS = 200;

export class ImagesProgress {
  private readonly mode: DisplayMode;
  private readonly surface: ProgressSurface;
  private readonly stream: NonNullable<ImagesProgressOptions["stream"]>;
  private readonly now: () => number;
  private readonly started: number;
  private done = 0;
  private skipped = 0;
  private batch: { images: number; started: number; perRequest: number[]; tokens: number } | null = null;
  private lastDraw = -Infinity;

  constructor(
    private readonly total: number,
    options: ImagesProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.mode = resolveDisplayMode(options.mode, this.stream, "images progress mode");
    this.surface = openSurface(this.mode, this.stream);
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
    if (this.mode === "lines") this.surface.show(formatImagesLine(this.state()));
    else this.redraw(true);
  }

  /** A line of its own (above the progress line on a terminal), e.g. a skipped photo. */
  message(text: string): void {
    if (this.mode === "silent") this.stream.write(`${text}\n`);
    else this.surface.say(text);
    this.redraw(true);
  }

  /** Clears the progress line. */
  finish(): void {
    this.surface.end();
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

  /** The line redrawn in place (terminal, notebook); plain lines come once per batch instead. */
  private redraw(force: boolean): void {
    if (this.mode !== "terminal" && this.mode !== "notebook") return;
    const time = this.now();
    if (!force && time - this.lastDraw < TERMINAL_INTERVAL_MS) return;
    this.lastDraw = time;
    this.surface.show(formatImagesLine(this.state(), { bar: true, width: this.surface.width }));
  }
}

/**
 * `photos 12/40 (30%) [######..............] 1m05s elapsed, ETA 2m31s, 1 skipped | batch of 8 photos: 812 tokens,
 * 56.1 tokens/s`; without the bar, `photos 12/40 (30%), 1m05s elapsed, ...`.
 */
export function formatImagesLine(state: ImagesProgressState, options: { bar?: boolean; width?: number } = {}): string {
  const bar = options.bar ? ` ${formatBar(state.done, state.total)}` : "";
  const skipped = state.skipped > 0 ? `, ${state.skipped} skipped` : "";
  const counts = `photos ${state.done}/${state.total} (${formatPercent(state.done, state.total)})`;
  let line = `${counts}${bar || ","} ${formatDuration(state.seconds)} elapsed, ETA ${formatDuration(state.etaSeconds)}${skipped}`;
  if (state.batch) {
    const photos = state.batch.images === 1 ? "1 photo" : `${state.batch.images} photos`;
    line += ` | batch of ${photos}: ${state.batch.tokens} tokens, ${formatRate(state.batch.tokensPerSecond, "tokens")}`;
  }
  return options.width !== undefined ? line.slice(0, options.width) : line;
}
