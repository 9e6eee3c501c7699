/**
 * One file from the Hub into the cache: `resolve/{commit}/{path}` (the Hub redirects LFS files to its CDN),
 * written to a partial file, resumed with `Range` after a dropped connection, verified, then renamed into place.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatBytes, type DownloadProgress } from "../progress";
import { DEFAULT_ENDPOINT } from "./defaults";
import { HubError, fileSystemError, httpError, isFileSystemError, networkError } from "./errors";
import { sleep, statOrNull } from "./files";
import { HUB_LIMITS } from "./limits";
import type { RemoteFile } from "./listing";
import { PARTIAL_DIR, claimPartial, partialKey } from "./partials";
import type { Settings } from "./settings";
import { contentMismatch } from "./verify";

export async function downloadFile(
  s: Settings,
  commit: string,
  file: RemoteFile,
  progress: DownloadProgress,
): Promise<void> {
  const partial = claimPartial(path.join(s.folder, PARTIAL_DIR), partialKey(file));
  const filePath = file.path.split("/").map(encodeURIComponent).join("/");
  const url = `${s.endpoint}/${s.repo}/resolve/${encodeURIComponent(commit)}/${filePath}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await transfer(s, url, file, partial, progress);
      break;
    } catch (err) {
      if (!(err instanceof RetryableError) || attempt >= HUB_LIMITS.maxAttempts) {
        throw err instanceof RetryableError ? err.cause : err;
      }
      await sleep(HUB_LIMITS.retryBaseMs * 2 ** (attempt - 1));
    }
  }
  const mismatch = await contentMismatch(partial, file);
  if (mismatch) {
    fs.rmSync(partial, { force: true });
    throw new HubError(
      "INTEGRITY",
      `Downloaded ${file.path} of ${s.repo} does not match what the Hub lists for it: ${mismatch}. ` +
        `The file was not kept. Try again; if it happens again, the server` +
        `${s.endpoint === DEFAULT_ENDPOINT ? "" : ` (HF_ENDPOINT=${s.endpoint})`} or a proxy on the way alters the file.`,
    );
  }
  const final = path.join(s.folder, file.path);
  try {
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(partial, final);
  } catch (err) {
    throw fileSystemError(err, s.folder, file.size);
  }
  progress.finishFile(file.path);
}

/** A failure worth another attempt (a dropped or stalled connection, a 5xx); `cause` is reported if none is left. */
class RetryableError extends Error {
  constructor(override readonly cause: HubError) {
    super(cause.message);
  }
}

/** One request for the rest of the file: appends to the partial file from its current size. */
async function transfer(
  s: Settings,
  url: string,
  file: RemoteFile,
  partial: string,
  progress: DownloadProgress,
): Promise<void> {
  let offset = statOrNull(partial)?.size ?? 0;
  if (offset > file.size) {
    fs.truncateSync(partial, 0);
    offset = 0;
  }
  progress.startFile(file.path, offset);
  if (offset === file.size) return;
  const controller = new AbortController();
  const stall = setTimeout(() => controller.abort(), HUB_LIMITS.stallTimeoutMs);
  try {
    const headers: Record<string, string> = { "Accept-Encoding": "identity" };
    if (s.token) headers.Authorization = `Bearer ${s.token}`;
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    // fetch follows the Hub's redirect to its CDN and, as the Fetch standard says, drops Authorization when
    // the redirect leaves the Hub's origin, as huggingface_hub does.
    const res = await fetch(url, { headers, redirect: "follow", signal: controller.signal }).catch((err: unknown) => {
      throw new RetryableError(networkError(url, err, s));
    });
    const append = await checkTransferResponse(res, s, file, offset, partial);
    const handle = await fs.promises.open(partial, append ? "a" : "w").catch((err: unknown) => {
      throw fileSystemError(err, s.folder, file.size - offset);
    });
    let written = append ? offset : 0;
    if (!append) progress.startFile(file.path, 0);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        stall.refresh();
        await handle.write(chunk);
        written += chunk.length;
        progress.advance(file.path, chunk.length);
      }
      await handle.sync();
    } catch (err) {
      if (isFileSystemError(err)) throw fileSystemError(err, s.folder, file.size - written);
      const what = `the connection dropped after ${formatBytes(written)} of ${file.path}`;
      throw new RetryableError(networkError(url, err, s, what));
    } finally {
      await handle.close();
    }
    if (written < file.size) {
      throw new RetryableError(
        new HubError(
          "NETWORK",
          `The download of ${file.path} from ${new URL(url).host} stopped at ${written} of ${file.size} bytes ` +
            `${HUB_LIMITS.maxAttempts} times. Try again later; the next load resumes it.`,
        ),
      );
    }
  } finally {
    clearTimeout(stall);
  }
}

/** Whether the body continues the partial file (206 from `offset`) or replaces it (200); errors otherwise. */
async function checkTransferResponse(
  res: Response,
  s: Settings,
  file: RemoteFile,
  offset: number,
  partial: string,
): Promise<boolean> {
  const host = new URL(res.url || s.endpoint).host;
  if (res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1]);
    if (start === offset) return true;
    await res.body?.cancel();
    fs.truncateSync(partial, 0);
    const error = new HubError("HTTP", `${host} answered a Range request for ${file.path} with other bytes.`);
    throw new RetryableError(error);
  }
  if (res.status === 200) return false;
  if (res.status === 416) {
    // The partial file is longer than what the server has now: start over.
    fs.truncateSync(partial, 0);
    throw new RetryableError(new HubError("HTTP", `${host} refused to resume ${file.path} (HTTP 416).`));
  }
  const error = httpError(res.status, res.headers.get("x-error-code"), res.headers.get("x-error-message"), s, file);
  await res.body?.cancel();
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableError(error);
  throw error;
}
