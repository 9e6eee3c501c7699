/** Small file-system helpers shared by the hub's modules. */
import * as fs from "node:fs";
import * as path from "node:path";
import { HubError, fileSystemError } from "./errors";

export function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Waits `ms`; when `signal` fires first, rejects with its reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** mkdir -p, with the cache's own message when the folder can't be made. */
export function makeFolder(folder: string): void {
  try {
    fs.mkdirSync(folder, { recursive: true });
  } catch (err) {
    throw fileSystemError(err, folder, 0);
  }
}

/**
 * `relative` joined to `folder`, refusing a name that would leave it. The listing is checked where it is read;
 * this is the last guard for names built from what a server sent.
 */
export function pathInside(folder: string, relative: string): string {
  const full = path.resolve(folder, relative);
  if (!full.startsWith(path.resolve(folder) + path.sep)) {
    throw new HubError("HTTP", `Refusing to write "${relative}": the name comes from the server and leaves ${folder}.`);
  }
  return full;
}
