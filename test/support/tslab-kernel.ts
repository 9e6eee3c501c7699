/**
 * Making this test process look like a tslab kernel running a cell, for the modules that display through
 * tslab (`src/notebook/tslab.ts` and its users).
 */
import * as path from "node:path";

export interface DisplayMessage {
  data: Record<string, string>;
  transient?: { display_id?: string };
  /** tslab's second argument: true when the message overwrites the entry with the same display_id. */
  update?: boolean;
}

/** Whether tslab's `dist/<file>` is in Node's module cache, i.e. was loaded by this process. */
export const tslabModuleLoaded = (file: string): boolean =>
  Object.keys(require.cache).some((key) => key.endsWith(path.join("tslab", "dist", file)));

/**
 * Loads the kernel module and gives it a cell's display channel, which here records the messages instead of
 * sending them to Jupyter; `stop()` ends the "cell".
 */
export function simulateKernel(): { messages: DisplayMessage[]; stop(): void } {
  const jupyter = require(require.resolve("tslab/dist/jupyter.js")) as { lastWriteDisplayData: unknown };
  const messages: DisplayMessage[] = [];
  jupyter.lastWriteDisplayData = (message: DisplayMessage, update?: boolean) => messages.push({ ...message, update: update === true });
  return { messages, stop: () => (jupyter.lastWriteDisplayData = null) };
}
