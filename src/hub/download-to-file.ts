/** A plain URL to a file, once (e.g. the walkthrough's sample photo); not a Hub download. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { HubError, fileSystemError } from "./errors";
import { makeFolder, statOrNull } from "./files";
import { HUB_LIMITS } from "./limits";

/**
 * Downloads `url` to `file` once (e.g. a sample photo): an existing file is kept, a new one appears only
 * complete (unique temporary name, then rename). Errors name the host and the way round it.
 */
export async function downloadToFile(url: string, file: string, options: { timeoutMs?: number } = {}): Promise<string> {
  if (statOrNull(file)?.isFile()) return file;
  const folder = path.dirname(file);
  makeFolder(folder);
  const host = new URL(url).host;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? HUB_LIMITS.stallTimeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new HubError(
      "NETWORK",
      `Could not reach ${host} (${cause}) to fetch ${url}. Give a local file instead, or try again online.`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new HubError(res.status === 404 ? "NOT_FOUND" : "HTTP", `${host} answered HTTP ${res.status} for ${url}.`);
  }
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.part`;
  try {
    fs.writeFileSync(temp, Buffer.from(await res.arrayBuffer()));
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw fileSystemError(err, folder, Number(res.headers.get("content-length") ?? 0));
  }
  return file;
}
