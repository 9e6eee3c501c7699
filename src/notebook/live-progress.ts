/**
 * A live line while a task generates, a view on the display layer (progress-display.ts), built on the `onToken`
 * run option: tokens so far, tokens per second and the
 * text decoded so far (its end, shortened), updated in place, then replaced by the result.
 *
 *   const progress = liveProgress({ label: "<OD>", tokenizer: model.tokenizer });
 *   const out = await model.run(image, "<OD>", undefined, { onToken: progress.onToken });
 *   progress.done(JSON.stringify(out.result));
 *
 * Where it shows (the layer's modes; "auto" by default): in a tslab notebook, one display entry that is overwritten (tslab's `newDisplay()`) and
 * finally holds the result, so a saved notebook keeps the result and no progress; on a terminal, one line on stderr
 * redrawn with `\r` and cleared at the end; in a log or a pipe, a plain line every few seconds for long tasks only.
 * A run that ends before the first update shows nothing but the result, as if there were no progress.
 *
 * For `model.runBatch`, pass `onBatchToken` as its `onToken`: the line then counts the tokens of all requests
 * together (their sum, and the batch's tokens per second) and shows no text, since many requests decode at once.
 *
 * Cost: `onToken` counts and reads the clock; decoding and drawing happen at most every 200 ms (terminal) or
 * 500 ms (notebook: each update is a message to the browser), and only the last ids are decoded (a few dozen ids
 * decode in a fraction of a millisecond, the whole text of a long answer in milliseconds), so the line costs a
 * negligible share of a run.
 */
import { formatRate, openSurface, resolveDisplayMode, type DisplayMode, type DisplayOption, type ProgressSurface } from "./progress-display";

/** The display layer's modes (progress-display.ts). */
export type LiveProgressMode = Exclude<DisplayOption, boolean>;

export interface LiveProgressOptions {
  /** What runs, e.g. the task token; starts the line. */
  label?: string;
  /** "auto" (default), a mode, or false for "silent" (quiet: only `done(text)` prints). */
  mode?: LiveProgressMode | boolean;
  /** Turns the ids so far into text (`model.tokenizer`); without it the line shows counts only. */
  tokenizer?: { decode(ids: readonly number[]): string };
  /** Where the terminal line and the plain lines go (default stderr). */
  stream?: Pick<NodeJS.WriteStream, "write"> & { isTTY?: boolean; columns?: number };
  /** Where `done(text)` prints when there is no notebook entry to hold it (default console.log). */
  print?: (text: string) => void;
  /** Milliseconds between updates; defaults per mode (terminal 200, notebook 500, lines 10000). */
  intervalMs?: number;
  /** The clock in milliseconds (tests). */
  now?: () => number;
}

export interface LiveProgressStats {
  /** Tokens generated so far (the decoder start token not counted); for a batch, all requests' together. */
  tokens: number;
  /** Since the progress was created (image, encoders and decoder). */
  seconds: number;
  /** Decoder speed: tokens after the first over the time since the first (0 until there are two). */
  tokensPerSecond: number;
}

export interface LiveProgress {
  /** Pass as the `onToken` run option. */
  readonly onToken: (ids: readonly number[]) => void;
  /** Pass as `model.runBatch`'s `onToken`: the tokens of all requests are counted together. */
  readonly onBatchToken: (ids: readonly number[], requestIndex: number) => void;
  /**
   * Ends the line. In a notebook the entry that showed progress now shows `text`; elsewhere the line is cleared
   * and `text` is printed (`print`). Without `text`, the progress just goes away.
   */
  done(text?: string): void;
  /** The counts so far. */
  stats(): LiveProgressStats;
  /** How many times the line was drawn (tests and measurements). */
  readonly updates: number;
}

const INTERVAL_MS: Record<DisplayMode, number> = { terminal: 200, notebook: 500, lines: 10_000, silent: Infinity };
/** The decoded text is shortened to its last this many characters (fewer on a narrow terminal)... */
const TEXT_TAIL = 80;
/** ...which the last this many ids always fill: a loc token is 9 characters, a word piece 2 or more. */
const DECODED_IDS = 40;
const SPECIAL_TOKENS = /<\/?s>|<pad>/g;

export function liveProgress(options: LiveProgressOptions = {}): LiveProgress {
  const now = options.now ?? (() => performance.now());
  const print = options.print ?? ((text: string) => console.log(text));
  const stream = options.stream ?? process.stderr;
  const mode = resolveDisplayMode(options.mode, stream, "live progress mode");
  const interval = options.intervalMs ?? INTERVAL_MS[mode];
  const started = now();
  let lastDraw = started;
  let tokens = 0;
  let lastIds: readonly number[] = [];
  let firstTokenAt: number | undefined;
  // Opened at the first update, so that a run that ends before it leaves no trace (no notebook entry).
  let surface: ProgressSurface | undefined;
  let updates = 0;
  let finished = false;

  const stats = (): LiveProgressStats => {
    const time = now();
    // From the first token on, so that the image and the encoders, which run before it, don't lower the rate.
    const decoding = firstTokenAt === undefined ? 0 : (time - firstTokenAt) / 1000;
    return { tokens, seconds: (time - started) / 1000, tokensPerSecond: decoding > 0 && tokens > 1 ? (tokens - 1) / decoding : 0 };
  };

  const draw = () => {
    if (mode === "silent") return;
    surface ??= openSurface(mode, stream);
    const text = options.tokenizer && lastIds.length > 0 ? options.tokenizer.decode(lastIds.slice(-DECODED_IDS)) : undefined;
    surface.show(formatLiveLine(options.label, stats(), text, surface.width));
    updates++;
  };

  /** Counts `count` tokens so far and redraws when the interval has passed. */
  const counted = (count: number, ids: readonly number[] | undefined) => {
    if (finished) return;
    tokens = count;
    lastIds = ids ?? [];
    firstTokenAt ??= now();
    if (mode === "silent") return;
    const time = now();
    if (time - lastDraw < interval) return;
    lastDraw = time;
    draw();
  };
  /** A batch's tokens per request (each request's ids start with the decoder start token). */
  const perRequest: number[] = [];
  let batchTokens = 0;

  return {
    // The ids start with the decoder start token; a beam search reports its best live beam.
    onToken: (ids: readonly number[]) => counted(Math.max(0, ids.length - 1), ids),
    onBatchToken(ids: readonly number[], requestIndex: number) {
      const count = Math.max(0, ids.length - 1);
      batchTokens += count - (perRequest[requestIndex] ?? 0);
      perRequest[requestIndex] = count;
      counted(batchTokens, undefined);
    },
    done(text?: string) {
      if (finished) return;
      finished = true;
      const shown = surface ? surface.end(text) : false;
      if (!shown && text !== undefined) print(text);
    },
    stats,
    get updates() {
      return updates;
    },
  };
}

/**
 * `<OD>: 88 tokens, 38.1 tokens/s, 2.3 s | …the end of the text so far`, at most `width` characters.
 */
export function formatLiveLine(label: string | undefined, stats: LiveProgressStats, text: string | undefined, width?: number): string {
  const rate = formatRate(stats.tokensPerSecond > 0 ? stats.tokensPerSecond : null, "tokens");
  const head = `${label ? `${label}: ` : ""}${stats.tokens} tokens, ${rate}, ${stats.seconds.toFixed(1)} s`;
  if (text === undefined) return width ? head.slice(0, width) : head;
  const clean = text.replace(SPECIAL_TOKENS, "").replace(/\s+/g, " ").trim();
  const room = Math.min(TEXT_TAIL, width ? width - head.length - 3 : TEXT_TAIL);
  if (room < 8) return width ? head.slice(0, width) : head;
  return `${head} | ${tailOf(clean, room)}`;
}

/** The last `room` characters of the text, starting at a token (`<loc_52>`) rather than inside one. */
function tailOf(text: string, room: number): string {
  if (text.length <= room) return text;
  let tail = text.slice(text.length - room + 1);
  const open = tail.indexOf("<");
  const close = tail.indexOf(">");
  // A ">" before any "<" means the cut fell inside a token: start after it.
  if (close >= 0 && (open < 0 || close < open)) tail = tail.slice(close + 1);
  return `…${tail}`;
}
