/**
 * The one display layer for progress. Three views draw on it: a download (hub/download-progress.ts), a task's
 * live tokens (notebook/live-progress.ts) and the photos of the folder job (walkthrough/images-progress.ts).
 * It owns where a progress line goes and how its figures read; each view owns what its line says and when.
 *
 * Modes, the same words for every view:
 * - `"terminal"`: one line on a stream (stderr), redrawn in place with `\r`, cut to the terminal's width;
 * - `"notebook"`: one tslab display entry, overwritten on each update (tslab's `newDisplay()`), so a saved
 *   notebook keeps only the last state;
 * - `"lines"`: plain lines appended, for logs and pipes (each view decides how often);
 * - `"silent"`: nothing.
 * `"auto"` (the default) picks notebook inside a tslab kernel that is running a cell, else terminal when the
 * stream is a TTY, else lines; `"notebook"` outside a notebook falls back to lines. `true` means auto and `false`
 * silent; `"bar"`, the name downloads and the folder job used for the terminal line, is still accepted.
 */
import { runningTslab, type TslabDisplay } from "./tslab";

export type DisplayMode = "terminal" | "notebook" | "lines" | "silent";
/** What a caller may pass for a mode. */
export type DisplayOption = "auto" | DisplayMode | "bar" | boolean;
/** The modes as errors and docs list them. */
export const DISPLAY_OPTIONS: readonly string[] = ["auto", "terminal", "notebook", "lines", "silent"];

/** Where terminal and plain lines go. */
export interface DisplayStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** 0 or undefined when unknown (a pty without a size reports 0). */
  columns?: number;
}

/** The part of tslab's `Display` a notebook line uses. */
export type TextDisplay = Pick<TslabDisplay, "text">;

/** One row of a notebook's output area at its usual width, so that a line does not wrap and jump. */
export const NOTEBOOK_WIDTH = 100;
/** Clears the terminal line from the cursor on. */
const ERASE_LINE = "\x1b[K";

/**
 * The mode an option asks for in this environment. `what` names the option in the error (`progress option`);
 * `alsoAccepted` adds what a view takes besides a mode (e.g. `"a function"`).
 */
export function resolveDisplayMode(option: unknown, stream: Pick<DisplayStream, "isTTY">, what: string, alsoAccepted: string[] = []): DisplayMode {
  const mode = option === undefined || option === true ? "auto" : option === false ? "silent" : option === "bar" ? "terminal" : option;
  if (typeof mode !== "string" || !DISPLAY_OPTIONS.includes(mode)) {
    throw new Error(
      `Unknown ${what} ${JSON.stringify(option)}. Expected true, false, ${alsoAccepted.map((a) => `${a}, `).join("")}` +
        `or one of: ${DISPLAY_OPTIONS.join(", ")}.`,
    );
  }
  if (mode !== "auto" && mode !== "notebook") return mode as DisplayMode;
  if (runningTslab()) return "notebook";
  if (mode === "notebook") return "lines";
  return stream.isTTY ? "terminal" : "lines";
}

/** Where a view's line goes: the same three calls whatever the mode. */
export interface ProgressSurface {
  readonly mode: DisplayMode;
  /** Characters a line may take: the terminal's width, the notebook's; undefined for plain lines. */
  readonly width: number | undefined;
  /** The progress line: redrawn in place (terminal, notebook) or appended (lines). */
  show(line: string): void;
  /** A line of its own: on a terminal above the progress line, which is cleared (the view redraws it). */
  say(text: string): void;
  /**
   * Ends the progress line: a notebook entry then shows `text` (or nothing) and this returns true when it
   * showed `text`; a terminal line is cleared. Whatever this did not show is the view's to print.
   */
  end(text?: string): boolean;
}

/**
 * A surface for a resolved mode. `display` is the notebook entry (default: a new one from the running kernel,
 * so open the surface when there is something to show); a notebook without a kernel falls back to lines.
 */
export function openSurface(mode: DisplayMode, stream: DisplayStream, display?: TextDisplay): ProgressSurface {
  if (mode === "notebook") {
    const entry = display ?? runningTslab()?.newDisplay();
    if (entry) return notebookSurface(entry);
    mode = "lines"; // the cell ended meanwhile
  }
  if (mode === "terminal") return terminalSurface(stream);
  if (mode === "lines") {
    const write = (line: string) => void stream.write(`${line}\n`);
    return { mode, width: undefined, show: write, say: write, end: () => false };
  }
  return { mode: "silent", width: undefined, show() {}, say() {}, end: () => false };
}

function terminalSurface(stream: DisplayStream): ProgressSurface {
  const width = Math.max(40, (stream.columns || 100) - 1);
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write(`\r${ERASE_LINE}`);
    drawn = false;
  };
  return {
    mode: "terminal",
    width,
    show(line) {
      stream.write(`\r${line.slice(0, width)}${ERASE_LINE}`);
      drawn = true;
    },
    say(text) {
      clear();
      stream.write(`${text}\n`);
    },
    end() {
      clear();
      return false;
    },
  };
}

function notebookSurface(display: TextDisplay): ProgressSurface {
  return {
    mode: "notebook",
    width: NOTEBOOK_WIDTH,
    show: (line) => display.text(line),
    say: (text) => display.text(text),
    end(text) {
      display.text(text ?? "");
      return text !== undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Figures, read the same in every view

/** Shown for a figure not known yet (a rate before two samples, an ETA before the first item). */
export const UNKNOWN = "–";

/** A short duration for elapsed times and ETAs: `42s`, `3m05s`, `1h02m`; `–` when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return UNKNOWN;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** `56.1 tokens/s`; `– tokens/s` when unknown (null). */
export function formatRate(perSecond: number | null, unit: string): string {
  return `${perSecond === null ? UNKNOWN : perSecond.toFixed(1)} ${unit}/s`;
}

/** `30%`, rounded down so that 100% means done. */
export function formatPercent(done: number, total: number): string {
  return total > 0 ? `${Math.floor((100 * done) / total)}%` : "100%";
}

/** `[######..............]`: `width` cells, filled by the share done. */
export function formatBar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.max(0, Math.min(width, Math.round((width * done) / total))) : width;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}
