/** A plain URL to a file, once (e.g. the walkthrough's sample photo); not a Hub download. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, readBodyWithLimit } from "../util/http-body";
import { HubError, fileSystemError } from "./errors";
import { makeFolder, statOrNull } from "./files";
import { HUB_LIMITS } from "./limits";

export interface DownloadToFileOptions {
  /** The time allowed for the whole download, body included; default 60 s. */
  timeoutMs?: number;
  /** Refuse a body larger than this (from its Content-Length, or as it arrives); default 256 MiB. */
  maxBytes?: number;
}

/**
 * Downloads `url` to `file` once (e.g. a sample photo): an existing file is kept, a new one appears only
 * complete (unique temporary name, then rename). Errors name the host and the way round it.
 */
export async function downloadToFile(url: string, file: string, options: DownloadToFileOptions = {}): Promise<string> {
  if (statOrNull(file)?.isFile()) return file;
  const folder = path.dirname(file);
  makeFolder(folder);
  const host = new URL(url).host;
  const timeoutMs = options.timeoutMs ?? HUB_LIMITS.stallTimeoutMs;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (err: unknown, doing: string): HubError => {
    if (signal.aborted) {
      return new HubError(
        "NETWORK",
        `${host} gave no complete answer within ${timeoutMs} ms (timeoutMs) for ${url}. Check the network and ` +
          `try again, or give a local file instead.`,
      );
    }
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return new HubError("NETWORK", `Could not ${doing} ${host} (${cause}) to fetch ${url}. Give a local file instead, or try again online.`);
  };
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    throw failed(err, "reach");
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new HubError(res.status === 404 ? "NOT_FOUND" : "HTTP", `${host} answered HTTP ${res.status} for ${url}.`);
  }
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.part`;
  const handle = await fs.promises.open(temp, "wx").catch((err: unknown) => {
    throw fileSystemError(err, folder, 0);
  });
  try {
    await readBodyWithLimit(res, maxBytes, async (chunk) => {
      await handle.write(chunk).catch((err: unknown) => {
        throw fileSystemError(err, folder, Number(res.headers.get("content-length") ?? 0));
      });
    });
  } catch (err) {
    await handle.close();
    fs.rmSync(temp, { force: true });
    if (err instanceof HubError) throw err;
    if (err instanceof BodyTooLargeError) {
      throw new HubError(
        "HTTP",
        `${url} is larger than expected: ${err.message}; nothing was kept. If you trust this URL, pass a larger ` +
          `maxBytes, or download the file yourself and give its path.`,
      );
    }
    throw failed(err, "finish reading from");
  }
  try {
    await handle.close();
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw fileSystemError(err, folder, 0);
  }
  return file;
}
