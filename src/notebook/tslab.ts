/**
 * Finding the tslab kernel this code runs in, for the modules that show things in a notebook (`display.ts`
 * for pictures and text, `download-progress.ts` for download progress).
 *
 * tslab is looked up only inside a running kernel and never loaded otherwise: requiring it costs half a
 * second (it bundles TypeScript), and its display API throws "Not ready" outside a cell's execution anyway.
 */
import * as path from "node:path";

/** The part of tslab's `Display` (node_modules/tslab/dist/public.d.ts) this package uses. */
export interface TslabDisplay {
  png(b: Uint8Array): void;
  text(s: string): void;
}

/**
 * The part of tslab's public module used here: `display` appends an output, `newDisplay()` one entry to overwrite;
 * and `displayData`, one output with several forms (a mime bundle), which tslab's `Display` can't send (each of its
 * calls sends one mime type), so it goes to the kernel's own writer.
 */
export interface TslabApi {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
  displayData(data: Record<string, string>): void;
}

/** The kernel's writer of display_data messages (tslab/dist/jupyter.js, `lastWriteDisplayData`). */
type WriteDisplayData = (content: { data: Record<string, string>; metadata: Record<string, unknown>; transient: Record<string, unknown> }, update: boolean) => void;

/** How tslab's kernel module is named in Node's module cache, wherever tslab is installed. */
const TSLAB_KERNEL_MODULE = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;

/**
 * tslab's display API when this process is a tslab kernel that is running a cell, else undefined.
 * The kernel has loaded `jupyter.js` and keeps the current cell's output channel in its
 * `lastWriteDisplayData`, so the module cache tells without loading anything. Taking `public.js` from the
 * same folder gives the API bound to that very kernel, even when another copy of tslab is installed elsewhere.
 */
export function runningTslab(): TslabApi | undefined {
  const cache = typeof require !== "undefined" ? require.cache : undefined;
  if (!cache) return undefined;
  const kernelModule = Object.keys(cache).find((file) => TSLAB_KERNEL_MODULE.test(file));
  if (kernelModule === undefined) return undefined;
  const jupyter = cache[kernelModule]?.exports as { lastWriteDisplayData?: WriteDisplayData | null } | undefined;
  if (jupyter?.lastWriteDisplayData == null) return undefined;
  const kernel = jupyter;
  const tslab = require(path.join(path.dirname(kernelModule), "public.js")) as Partial<TslabApi>;
  if (typeof tslab.newDisplay !== "function" || typeof tslab.display !== "object" || tslab.display === null) {
    return undefined;
  }
  // Read at each call, as tslab's Display does: the kernel replaces the writer for every cell it runs.
  const displayData = (data: Record<string, string>) => kernel.lastWriteDisplayData?.({ data, metadata: {}, transient: {} }, false);
  return { display: tslab.display, newDisplay: tslab.newDisplay, displayData };
}
