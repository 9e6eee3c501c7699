/**
 * Download progress, a view on the display layer (notebook/progress-display.ts): bytes, speed and ETA for the
 * current file and for the whole download, in the layer's modes (a line redrawn in place on a terminal, plain
 * lines in a log or a pipe, one display entry in a tslab notebook, or nothing).
 *
 * The counting (`DownloadProgress`) is separate from the showing (`ProgressRenderer`), so a caller can pass
 * its own function and receive the same numbers.
 */
import * as path from "node:path";
import {
  formatBar,
  formatDuration,
  formatPercent,
  openSurface,
  resolveDisplayMode,
  type DisplayOption,
  type DisplayStream,
  type ProgressSurface,
  type TextDisplay,
} from "../notebook/progress-display";

export type { TextDisplay } from "../notebook/progress-display";

/** Where progress goes: a display mode (`"auto"` by default; `"bar"` is the older name of `"terminal"`). */
export type ProgressMode = Exclude<DisplayOption, boolean>;
export type ProgressOption = ProgressMode | boolean | ((snapshot: ProgressSnapshot) => void);

/** Bytes moved so far and what the rate predicts. */
export interface TransferStats {
  bytes: number;
  total: number;
  /** Bytes per second over the last few seconds; 0 until there is enough to measure. */
  bytesPerSecond: number;
  /** Seconds until done at the current rate; null while the rate is unknown. */
  etaSeconds: number | null;
}

export interface ProgressSnapshot {
  /** What is being downloaded, e.g. `onnx-community/Florence-2-base-ft`. */
  title: string;
  /** The file being transferred now; null between files. */
  file: (TransferStats & { path: string }) | null;
  overall: TransferStats & { filesDone: number; filesTotal: number };
  /** True once, for the final snapshot. */
  done: boolean;
  /** A one-off notice, e.g. that another process holds the download lock. */
  message?: string;
}

export interface ProgressRenderer {
  update(snapshot: ProgressSnapshot): void;
  /** Final snapshot; the renderer leaves its output in a finished state. */
  finish(snapshot: ProgressSnapshot): void;
  message(text: string): void;
}

/** Rate window: long enough to smooth chunk bursts, short enough to follow a change of speed. */
const RATE_WINDOW_MS = 5000;
/** Redraw intervals: a terminal redraws cheaply; a notebook update is a kernel message, so fewer of them. */
const TERMINAL_INTERVAL_MS = 100;
const NOTEBOOK_INTERVAL_MS = 500;
const LINES_INTERVAL_MS = 10000;

interface FileState {
  path: string;
  size: number;
  bytes: number;
}

/**
 * Counts bytes for a download of several files, one after another. Bytes found on disk from an earlier,
 * interrupted attempt count as done but not towards the speed.
 */
export class DownloadProgress {
  private readonly files = new Map<string, FileState>();
  private current: FileState | null = null;
  private filesDone = 0;
  private readonly samples: { time: number; moved: number }[] = [];
  private moved = 0;
  private lastDraw = -Infinity;
  private finished = false;

  constructor(
    private readonly title: string,
    files: readonly { path: string; size: number }[],
    private readonly renderer: ProgressRenderer,
    private readonly drawIntervalMs: number = TERMINAL_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    for (const f of files) this.files.set(f.path, { path: f.path, size: f.size, bytes: 0 });
  }

  /** A file starts (or restarts after a dropped connection) with `offset` bytes already on disk. */
  startFile(filePath: string, offset: number): void {
    const state = this.fileState(filePath);
    state.bytes = offset;
    this.current = state;
    this.draw(true);
  }

  advance(filePath: string, bytes: number): void {
    this.fileState(filePath).bytes += bytes;
    this.moved += bytes;
    this.draw(false);
  }

  finishFile(filePath: string): void {
    const state = this.fileState(filePath);
    state.bytes = state.size;
    this.filesDone += 1;
    if (this.current === state) this.current = null;
    this.draw(true);
  }

  message(text: string): void {
    this.renderer.message(text);
  }

  /** Ends the display: a summary after success, or where the download stopped after a failure. */
  finish(success = true): void {
    if (this.finished) return;
    this.finished = true;
    if (success) {
      this.current = null;
      this.renderer.finish(this.snapshot(true));
      return;
    }
    const s = this.snapshot(true);
    this.renderer.message(
      `${this.title}: download stopped at ${formatBytes(s.overall.bytes)} of ${formatBytes(s.overall.total)}; ` +
        `the next load resumes it.`,
    );
  }

  snapshot(done = false): ProgressSnapshot {
    const rate = this.rate();
    const total = [...this.files.values()].reduce((sum, f) => sum + f.size, 0);
    const bytes = [...this.files.values()].reduce((sum, f) => sum + Math.min(f.bytes, f.size), 0);
    const file = this.current;
    return {
      title: this.title,
      file: file ? { path: file.path, ...stats(file.bytes, file.size, rate) } : null,
      overall: { ...stats(bytes, total, rate), filesDone: this.filesDone, filesTotal: this.files.size },
      done,
    };
  }

  private fileState(filePath: string): FileState {
    const state = this.files.get(filePath);
    if (!state) throw new Error(`Progress was given "${filePath}", which is not one of the files being downloaded.`);
    return state;
  }

  private rate(): number {
    const time = this.now();
    this.samples.push({ time, moved: this.moved });
    while (this.samples.length > 2 && time - this.samples[1].time >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const seconds = (time - first.time) / 1000;
    return seconds >= 0.2 ? (this.moved - first.moved) / seconds : 0;
  }

  private draw(force: boolean): void {
    const time = this.now();
    if (!force && time - this.lastDraw < this.drawIntervalMs) return;
    this.lastDraw = time;
    this.renderer.update(this.snapshot());
  }
}

function stats(bytes: number, total: number, rate: number): TransferStats {
  const left = Math.max(0, total - bytes);
  return { bytes, total, bytesPerSecond: rate, etaSeconds: rate > 0 ? left / rate : left === 0 ? 0 : null };
}

/** Decimal units, as the Hub's file listings show sizes: `367.0 MB`, `5.4 kB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** One line: the current file, then the whole download; used by the terminal, the notebook and the line renderers. */
export function formatProgressLine(s: ProgressSnapshot, barWidth = 20): string {
  const o = s.overall;
  const speed = `${formatBytes(Math.round(o.bytesPerSecond))}/s`;
  const total =
    `${formatBar(o.bytes, o.total, barWidth)} ${formatPercent(o.bytes, o.total)} ${formatBytes(o.bytes)}/${formatBytes(o.total)} ` +
    `(${o.filesDone}/${o.filesTotal} files) ${speed} ETA ${formatDuration(o.etaSeconds)}`;
  if (!s.file) return `${s.title} ${total}`;
  const f = s.file;
  const file =
    `${path.posix.basename(f.path)} ${formatPercent(f.bytes, f.total)} ${formatBytes(f.bytes)}/${formatBytes(f.total)} ` +
    `ETA ${formatDuration(f.etaSeconds)}`;
  return `${s.title} ${file} | all ${total}`;
}

function formatSummary(s: ProgressSnapshot): string {
  return `${s.title}: ${s.overall.filesDone} file(s), ${formatBytes(s.overall.bytes)} downloaded and verified.`;
}

/** Redraws one line in place with `\r`, cut to the terminal's width so that it never wraps. */
export class TerminalRenderer implements ProgressRenderer {
  private readonly surface: ProgressSurface;
  constructor(stream: DisplayStream) {
    this.surface = openSurface("terminal", stream);
  }

  update(s: ProgressSnapshot): void {
    this.surface.show(formatProgressLine(s));
  }

  finish(s: ProgressSnapshot): void {
    this.surface.end();
    this.surface.say(formatSummary(s));
  }

  message(text: string): void {
    this.surface.say(text);
  }
}

/** Plain lines for logs and pipes: a line when a file starts, every few seconds, and when it ends. */
export class LineRenderer implements ProgressRenderer {
  private lastFile: string | null = null;
  private lastLine = -Infinity;
  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs: number = LINES_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  update(s: ProgressSnapshot): void {
    const file = s.file?.path ?? null;
    if (file !== null && file !== this.lastFile) {
      this.lastFile = file;
      const resumed = s.file && s.file.bytes > 0 ? `, resuming at ${formatBytes(s.file.bytes)}` : "";
      this.emit(`${s.title}: downloading ${file} (${formatBytes(s.file?.total ?? 0)}${resumed})`);
      return;
    }
    if (file === null) return;
    if (this.now() - this.lastLine >= this.intervalMs) this.emit(formatProgressLine(s));
  }

  finish(s: ProgressSnapshot): void {
    this.write(formatSummary(s));
  }

  message(text: string): void {
    this.write(text);
  }

  private emit(line: string): void {
    this.lastLine = this.now();
    this.write(line);
  }
}

/** One display entry, overwritten on each update (tslab's `newDisplay()` sends `update_display_data`). */
export class NotebookRenderer implements ProgressRenderer {
  private readonly surface: ProgressSurface;
  /** `display` defaults to a new entry of the running kernel (outside one: plain lines on `stream`). */
  constructor(display?: TextDisplay, stream: DisplayStream = process.stderr) {
    this.surface = openSurface("notebook", stream, display);
  }

  update(s: ProgressSnapshot): void {
    this.surface.show(formatProgressLine(s));
  }

  finish(s: ProgressSnapshot): void {
    this.surface.end(formatSummary(s));
  }

  message(text: string): void {
    this.surface.say(text);
  }
}

class SilentRenderer implements ProgressRenderer {
  update(): void {}
  finish(): void {}
  message(): void {}
}

class CallbackRenderer implements ProgressRenderer {
  constructor(private readonly callback: (s: ProgressSnapshot) => void) {}
  update(s: ProgressSnapshot): void {
    this.callback(s);
  }
  finish(s: ProgressSnapshot): void {
    this.callback(s);
  }
  message(text: string): void {
    this.callback({
      title: text,
      file: null,
      overall: { bytes: 0, total: 0, bytesPerSecond: 0, etaSeconds: null, filesDone: 0, filesTotal: 0 },
      done: false,
      message: text,
    });
  }
}

/** Picks the renderer for a progress option; `stream` is where the terminal line or the lines go (stderr by default). */
export function createProgressRenderer(
  option: ProgressOption = "auto",
  stream: NodeJS.WriteStream = process.stderr,
): { renderer: ProgressRenderer; intervalMs: number } {
  if (typeof option === "function") return { renderer: new CallbackRenderer(option), intervalMs: TERMINAL_INTERVAL_MS };
  switch (resolveDisplayMode(option, stream, "progress option", ["a function"])) {
    case "silent":
      return { renderer: new SilentRenderer(), intervalMs: Infinity };
    case "terminal":
      return { renderer: new TerminalRenderer(stream), intervalMs: TERMINAL_INTERVAL_MS };
    case "lines":
      return { renderer: new LineRenderer((l) => stream.write(`${l}\n`)), intervalMs: TERMINAL_INTERVAL_MS };
    case "notebook":
      return { renderer: new NotebookRenderer(undefined, stream), intervalMs: NOTEBOOK_INTERVAL_MS };
  }
}

/** A progress counter for `files`, shown as `option` says. */
export function createDownloadProgress(
  title: string,
  files: readonly { path: string; size: number }[],
  option: ProgressOption = "auto",
): DownloadProgress {
  const { renderer, intervalMs } = createProgressRenderer(option);
  return new DownloadProgress(title, files, renderer, intervalMs);
}
