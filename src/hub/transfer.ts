/**
 * One file from the Hub into the cache: `resolve/{commit}/{path}` (the Hub redirects LFS files to its CDN),
 * written to a partial file, resumed with `Range` after a dropped connection, verified, then renamed into place.
 *
 * What a server can't make it do: write more bytes than the listing gives for the file (reading stops at the
 * first byte too many), or hold it forever (a stall timer per request, a deadline per file that grows with its
 * size, so a body that trickles in ends too).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatBytes, type DownloadProgress } from "./download-progress";
import { DEFAULT_ENDPOINT } from "./defaults";
import { HubError, fileSystemError, httpError, networkError } from "./errors";
import { pathInside, sleep, statOrNull } from "./files";
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
  signal?: AbortSignal,
): Promise<void> {
  const partial = claimPartial(pathInside(s.folder, PARTIAL_DIR), partialKey(file));
  const filePath = file.path.split("/").map(encodeURIComponent).join("/");
  const url = `${s.endpoint}/${s.repo}/resolve/${encodeURIComponent(commit)}/${filePath}`;
  const allowedMs = fileDeadlineMs(file.size - (statOrNull(partial)?.size ?? 0));
  const deadline = Date.now() + allowedMs;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      await transfer({ s, url, file, partial, progress, deadline, allowedMs, signal });
      break;
    } catch (err) {
      if (!(err instanceof RetryableError) || attempt >= HUB_LIMITS.maxAttempts) {
        throw err instanceof RetryableError ? err.cause : err;
      }
      await sleep(HUB_LIMITS.retryBaseMs * 2 ** (attempt - 1), signal);
      if (Date.now() >= deadline) throw deadlineError(s, url, file, partial, allowedMs);
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
  const final = pathInside(s.folder, file.path);
  try {
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(partial, final);
  } catch (err) {
    throw fileSystemError(err, s.folder, file.size);
  }
  progress.finishFile(file.path);
}

/** The time a file of `bytes` may take, retries included: a base, plus the time at the slowest accepted rate. */
export function fileDeadlineMs(bytes: number): number {
  return HUB_LIMITS.fileDeadlineBaseMs + (1000 * Math.max(0, bytes)) / HUB_LIMITS.minBytesPerSecond;
}

/** A failure worth another attempt (a dropped or stalled connection, a 5xx); `cause` is reported if none is left. */
class RetryableError extends Error {
  constructor(override readonly cause: HubError) {
    super(cause.message);
  }
}

interface Transfer {
  s: Settings;
  url: string;
  file: RemoteFile;
  partial: string;
  progress: DownloadProgress;
  /** Date.now() by which the file must be complete, `allowedMs` after its first attempt. */
  deadline: number;
  allowedMs: number;
  signal?: AbortSignal;
}

const STALLED = "stalled";
const LATE = "late";

/** One request for the rest of the file: appends to the partial file from its current size. */
async function transfer(t: Transfer): Promise<void> {
  const { s, url, file, partial, progress } = t;
  let offset = statOrNull(partial)?.size ?? 0;
  if (offset > file.size) {
    fs.rmSync(partial, { force: true });
    offset = 0;
  }
  progress.startFile(file.path, offset);
  if (offset === file.size) return;
  const controller = new AbortController();
  const stall = setTimeout(() => controller.abort(STALLED), HUB_LIMITS.stallTimeoutMs);
  const late = setTimeout(() => controller.abort(LATE), Math.max(0, t.deadline - Date.now()));
  const onAbort = () => controller.abort(t.signal?.reason);
  t.signal?.addEventListener("abort", onAbort);
  // A failure of the request or of reading its body: the caller's abort, the deadline, or the network.
  const failure = (err: unknown, what?: string): Error => {
    if (t.signal?.aborted) return t.signal.reason as Error;
    if (controller.signal.reason === LATE) return deadlineError(s, url, file, partial, t.allowedMs);
    return new RetryableError(networkError(url, err, s, what));
  };
  try {
    const headers: Record<string, string> = { "Accept-Encoding": "identity" };
    if (s.token) headers.Authorization = `Bearer ${s.token}`;
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    // fetch follows the Hub's redirect to its CDN and, as the Fetch standard says, drops Authorization when
    // the redirect leaves the Hub's origin, as huggingface_hub does.
    const res = await fetch(url, { headers, redirect: "follow", signal: controller.signal }).catch((err: unknown) => {
      throw failure(err);
    });
    const append = await checkTransferResponse(res, s, file, offset, partial);
    const handle = await fs.promises.open(partial, append ? "a" : "w").catch((err: unknown) => {
      throw fileSystemError(err, s.folder, file.size - offset);
    });
    let written = append ? offset : 0;
    if (!append) progress.startFile(file.path, 0);
    const chunks = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    let tooLong = false;
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          throw failure(err, `the connection dropped after ${formatBytes(written)} of ${file.path}`);
        }
        if (next.done) break;
        stall.refresh();
        if (written + next.value.length > file.size) {
          tooLong = true;
          break;
        }
        await handle.write(next.value).catch((err: unknown) => {
          throw fileSystemError(err, s.folder, file.size - written);
        });
        written += next.value.length;
        progress.advance(file.path, next.value.length);
      }
      await handle.sync();
    } finally {
      // Stops reading (cancels the body) when the loop ended early; must not hide the error that ended it.
      await chunks.return?.().catch(() => undefined);
      await handle.close();
    }
    if (tooLong) throw tooLongError(s, url, file, partial);
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
    clearTimeout(late);
    t.signal?.removeEventListener("abort", onAbort);
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
  if (res.status === 200) {
    // The whole file, also when a range was asked for (a server without Range support): it replaces the partial.
    await checkContentLength(res, s, file, 0, partial);
    return false;
  }
  if (res.status === 206) {
    const range = res.headers.get("content-range");
    if (Number(/^bytes (\d+)-/.exec(range ?? "")?.[1]) !== offset) {
      await res.body?.cancel();
      fs.rmSync(partial, { force: true });
      const error = new HubError(
        "HTTP",
        `${host} answered a request for ${file.path} from byte ${offset} with ${range ?? "a 206 without Content-Range"}` +
          `. The partial file was discarded; try again later.`,
      );
      throw new RetryableError(error);
    }
    await checkContentLength(res, s, file, offset, partial);
    return true;
  }
  if (res.status === 416) {
    await res.body?.cancel();
    if (offset === 0) {
      throw new HubError(
        "HTTP",
        `${host} answered HTTP 416 (Range Not Satisfiable) for ${file.path} of ${s.repo} although no range was ` +
          `asked for. The server is broken; try again later, or set HF_ENDPOINT to another mirror.`,
      );
    }
    // The partial file is longer than what the server has now: start over.
    fs.rmSync(partial, { force: true });
    throw new RetryableError(new HubError("HTTP", `${host} refused to resume ${file.path} (HTTP 416).`));
  }
  const error = httpError(res.status, res.headers.get("x-error-code"), res.headers.get("x-error-message"), s, file);
  await res.body?.cancel();
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableError(error);
  throw error;
}

/** A Content-Length other than the bytes still missing means other bytes than listed: refused before reading. */
async function checkContentLength(
  res: Response,
  s: Settings,
  file: RemoteFile,
  offset: number,
  partial: string,
): Promise<void> {
  const declared = res.headers.get("content-length");
  // A compressed body (a proxy ignoring Accept-Encoding: identity) declares its compressed length.
  const encoding = res.headers.get("content-encoding");
  if (declared === null || (encoding !== null && encoding !== "identity")) return;
  if (Number(declared) === file.size - offset) return;
  await res.body?.cancel();
  fs.rmSync(partial, { force: true });
  throw new HubError(
    "INTEGRITY",
    `${new URL(res.url || s.endpoint).host} announced Content-Length ${declared} for ${file.path} of ${s.repo} ` +
      `from byte ${offset}, but the Hub's listing gives ${file.size} bytes for the file. Nothing of it was kept. ` +
      `Try again; if it happens again, the server${s.endpoint === DEFAULT_ENDPOINT ? "" : ` (HF_ENDPOINT=${s.endpoint})`} ` +
      `or a proxy on the way serves another file.`,
  );
}

function tooLongError(s: Settings, url: string, file: RemoteFile, partial: string): HubError {
  fs.rmSync(partial, { force: true });
  return new HubError(
    "INTEGRITY",
    `${new URL(url).host} sent more than the ${file.size} bytes the Hub's listing gives for ${file.path} of ` +
      `${s.repo}; the download was stopped there and nothing of it was kept. Try again; if it happens again, the ` +
      `server${s.endpoint === DEFAULT_ENDPOINT ? "" : ` (HF_ENDPOINT=${s.endpoint})`} or a proxy on the way is broken.`,
  );
}

function deadlineError(s: Settings, url: string, file: RemoteFile, partial: string, allowedMs: number): HubError {
  const have = statOrNull(partial)?.size ?? 0;
  const rate = formatBytes(HUB_LIMITS.minBytesPerSecond);
  return new HubError(
    "NETWORK",
    `The download of ${file.path} (${formatBytes(file.size)}) from ${new URL(url).host} did not finish within its ` +
      `deadline of ${Math.ceil(allowedMs / 1000)} s (${HUB_LIMITS.fileDeadlineBaseMs / 1000} s, plus 1 s per ${rate} ` +
      `still to come: the connection is slower than ${rate}/s on average). It stopped at ${formatBytes(have)}; the ` +
      `bytes so far are kept and the next load resumes it. Try again on a faster connection, or set HF_ENDPOINT ` +
      `to a closer mirror.`,
  );
}
