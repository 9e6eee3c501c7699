/**
 * `HubError`, the one error type of the downloader, and the factories that turn HTTP statuses, network failures
 * and file-system errors into messages naming the host, the repository and the fix.
 */
import { formatBytes } from "./download-progress";
import { DEFAULT_MODEL } from "./defaults";
import type { Settings } from "./settings";

export type HubErrorCode =
  | "INVALID_INPUT"
  | "NETWORK"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "HTTP"
  | "INTEGRITY"
  | "DISK_FULL"
  | "OFFLINE_INCOMPLETE"
  /** Another process held the cache folder's download lock for longer than lockTimeoutMs. */
  | "LOCK_TIMEOUT";

/** Every failure of this module: `code` says which kind, the message says what to do. */
export class HubError extends Error {
  override name = "HubError";
  constructor(
    readonly code: HubErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function httpError(
  status: number,
  errorCode: string | null,
  serverMessage: string | null,
  s: Settings,
  file?: { path: string },
): HubError {
  const said = serverMessage ? ` The server said: "${serverMessage.split(". URL:")[0]}".` : "";
  const host = new URL(s.endpoint).host;
  if (status === 401) {
    return new HubError(
      "UNAUTHORIZED",
      s.token
        ? `${host} refused the token (${s.tokenSource ?? "HF_TOKEN"}) for ${s.repo} (HTTP 401).${said} Check that the token is valid and ` +
            `has read access (https://huggingface.co/settings/tokens), and that the id is right.`
        : `${host} answered HTTP 401 for ${s.repo}: the model is private or gated, or does not exist (the Hub ` +
            `answers 401 for unknown repositories when no token is sent).${said} Check the id (e.g. "${DEFAULT_MODEL}"); ` +
            `for a private or gated model, create a read token at https://huggingface.co/settings/tokens and set ` +
            `HF_TOKEN=hf_... (or run hf auth login, or pass { token }).`,
    );
  }
  if (status === 403) {
    return new HubError(
      "FORBIDDEN",
      `${host} refused access to ${s.repo} (HTTP 403).${said} For a gated model, accept its terms on ` +
        `${s.endpoint}/${s.repo} with the account that owns the token${s.tokenSource ? ` (${s.tokenSource})` : ""}; a fine-grained token also needs read access ` +
        `to this repository.`,
    );
  }
  if (status === 404) {
    const what =
      errorCode === "RevisionNotFound"
        ? `Revision "${s.revision}" does not exist in ${s.repo}. Use a branch, tag or commit of that repository ` +
          `(default "main").`
        : errorCode === "EntryNotFound" || (file && errorCode !== "RepoNotFound")
          ? `${s.repo} (revision ${s.revision}) has no file ${file?.path ?? ""}.`
          : `No model "${s.repo}" on ${host}. Check the id, e.g. "${DEFAULT_MODEL}".`;
    return new HubError("NOT_FOUND", `${what} (HTTP 404)${said ? `${said}` : ""}`);
  }
  const what = file ? `${s.repo} ${file.path}` : s.repo;
  return new HubError("HTTP", `${host} answered HTTP ${status} for ${what}.${said} Try again later.`);
}

export function networkError(url: string, err: unknown, s: Settings, what?: string): HubError {
  if (err instanceof HubError) return err;
  const host = new URL(url).host;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const reason = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
  return new HubError(
    "NETWORK",
    `Could not reach ${host} (${reason})${what ? `: ${what}` : ""} while downloading ${s.repo}. ${offlineAdvice(s)}`,
  );
}

function offlineAdvice(s: Settings): string {
  return (
    `To work without the network: copy a complete model folder to this machine and pass its path ` +
    `(Florence2.load("/path/to/${s.repo.split("/")[1]}")), or put its files in ${s.folder} and set HF_HUB_OFFLINE=1. ` +
    `Behind a firewall, HF_ENDPOINT can point to a Hub mirror.`
  );
}

export function isFileSystemError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === "string" && ["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE"].includes(code);
}

export function fileSystemError(err: unknown, folder: string, bytesNeeded: number): HubError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return diskFullError(folder, bytesNeeded);
  if (err instanceof HubError) return err;
  return new HubError(
    "INVALID_INPUT",
    `Cannot write the model cache in ${folder} (${code ?? (err as Error)?.message}). ` +
      `Choose a writable folder with the cacheDir option or FLORENCE2_CACHE.`,
  );
}

export function diskFullError(folder: string, needed: number, free?: number): HubError {
  return new HubError(
    "DISK_FULL",
    `Not enough disk space in ${folder}: the download needs ${formatBytes(needed)} more` +
      (free !== undefined ? ` and ${formatBytes(free)} is free` : "") +
      `. Free some space, or choose another cache folder with the cacheDir option or FLORENCE2_CACHE.`,
  );
}
