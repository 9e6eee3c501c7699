/**
 * What a call to `resolveModelFolder` works with: the repository id and revision it was given, checked, and the
 * environment's settings in the Hub's own conventions (huggingface_hub's `constants.py`): `HF_ENDPOINT` for a
 * mirror, `HF_TOKEN`, `HF_HUB_OFFLINE`, plus this project's `FLORENCE2_CACHE`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { DtypeOption } from "../runtime/dtypes";
import { describeValue } from "../util/describe";
import { readJsonObjectOrUndefined } from "../util/json-file";
import type { ProgressOption } from "./download-progress";
import { DEFAULT_ENDPOINT, DEFAULT_MODEL, DEFAULT_REVISION } from "./defaults";
import { HubError } from "./errors";
import { statOrNull } from "./files";

export interface ResolveOptions {
  /** Which ONNX variants to fetch (`resolveDtypes`); default fp32. */
  dtype?: DtypeOption;
  /** Branch, tag or commit; default `"main"`. Each revision gets its own folder. */
  revision?: string;
  /** Where downloaded models go; default `FLORENCE2_CACHE`, else this project's `models/`. */
  cacheDir?: string;
  /** Access token for private or gated repos; default `HF_TOKEN`. */
  token?: string;
  /** The Hub or a mirror; default `HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Never use the network; default true when `HF_HUB_OFFLINE` is 1/true/yes/on. */
  offline?: boolean;
  /** Download progress (see download-progress.ts); default "auto". */
  progress?: ProgressOption;
  /**
   * How long to wait for another process that is downloading into the same cache folder before giving up
   * (HubError LOCK_TIMEOUT); default 60 minutes.
   */
  lockTimeoutMs?: number;
  /** Stops waiting for that process, and the download itself, with the signal's reason. */
  signal?: AbortSignal;
}

/** One resolve call's settings, checked. */
export interface Settings {
  repo: string;
  revision: string;
  endpoint: string;
  token?: string;
  cacheDir: string;
  offline: boolean;
  folder: string;
  lockTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Where a Hub model's files are cached: `<cacheDir>/<org>/<name>/<revision>`. */
export function modelCacheFolder(repoId: string, options: { revision?: string; cacheDir?: string } = {}): string {
  const repo = parseRepoId(repoId);
  const revision = checkRevision(options.revision ?? DEFAULT_REVISION);
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  return path.join(cacheDir, ...repo.split("/"), encodeURIComponent(revision));
}

/** `FLORENCE2_CACHE` if set, else the `models/` folder of this project (found from this file's location). */
export function defaultCacheDir(): string {
  const fromEnv = process.env.FLORENCE2_CACHE;
  if (fromEnv) return path.resolve(fromEnv);
  return path.join(projectRoot() ?? process.cwd(), "models");
}

function projectRoot(): string | null {
  // realpath: notebooks may reach src/ through a symlink, and the cache belongs to the project, not the link.
  let dir = fs.realpathSync(__dirname);
  for (;;) {
    // An unreadable package.json is not ours; keep walking up.
    if (readJsonObjectOrUndefined(path.join(dir, "package.json"))?.name === "florence2-ts") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** `folderOrId` when it is an existing folder; null when it should be read as a Hub id; an error for a bad path. */
export function existingFolder(folderOrId: string): string | null {
  if (typeof folderOrId !== "string" || folderOrId.trim() === "") {
    throw new HubError(
      "INVALID_INPUT",
      `Expected a model folder or a Hub model id like "${DEFAULT_MODEL}" but received ${describeValue(folderOrId)}.`,
    );
  }
  const stat = statOrNull(folderOrId);
  if (stat?.isDirectory()) return folderOrId;
  if (stat) {
    throw new HubError("INVALID_INPUT", `"${folderOrId}" is a file; expected a model folder or a Hub model id.`);
  }
  if (looksLikePath(folderOrId)) {
    throw new HubError(
      "INVALID_INPUT",
      `Model folder "${folderOrId}" does not exist. Give an existing folder laid out like ${DEFAULT_MODEL} ` +
        `(config.json, tokenizer files, onnx/), or a Hub model id such as "${DEFAULT_MODEL}".`,
    );
  }
  return null;
}

function looksLikePath(s: string): boolean {
  return /^(\.|~|\/|[A-Za-z]:)/.test(s) || s.includes("\\") || s.split("/").length > 2;
}

/** Hub repo ids: `org/name`, letters, digits, `-`, `_`, `.`; no `--` or `..` (the Hub's own rule). */
export function parseRepoId(id: string): string {
  const ok =
    /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) && !/--|\.\./.test(id) && id.length <= 96;
  if (!ok) {
    throw new HubError(
      "INVALID_INPUT",
      `"${id}" is neither an existing folder nor a Hub model id. Expected "org/name", e.g. "${DEFAULT_MODEL}".`,
    );
  }
  return id;
}

function checkRevision(revision: string): string {
  const ok =
    typeof revision === "string" && /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(revision) && !/\.\.|\/\/|\/$/.test(revision);
  if (!ok || revision.length > 255) {
    throw new HubError(
      "INVALID_INPUT",
      `Expected a revision (branch, tag or commit hash, e.g. "main") but received ${describeValue(revision)}.`,
    );
  }
  return revision;
}

export function readSettings(repo: string, options: ResolveOptions): Settings {
  const revision = checkRevision(options.revision ?? DEFAULT_REVISION);
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new HubError(
      "INVALID_INPUT",
      `Expected HF_ENDPOINT (or the endpoint option) to be an http(s) URL like ${DEFAULT_ENDPOINT} ` +
        `but received "${endpoint}".`,
    );
  }
  const token = options.token ?? (process.env.HF_TOKEN || undefined);
  if (token !== undefined && !/^hf_\S+$/.test(token)) {
    throw new HubError(
      "INVALID_INPUT",
      `The Hugging Face token (${options.token !== undefined ? "token option" : "HF_TOKEN"}) must start with "hf_"; ` +
        `create one at https://huggingface.co/settings/tokens or unset it for public models.`,
    );
  }
  const offline = options.offline ?? isTruthy(process.env.HF_HUB_OFFLINE);
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const { lockTimeoutMs, signal } = options;
  if (lockTimeoutMs !== undefined && (typeof lockTimeoutMs !== "number" || !(lockTimeoutMs > 0))) {
    throw new HubError(
      "INVALID_INPUT",
      `Expected a positive number of milliseconds (or Infinity) for lockTimeoutMs but received ${describeValue(lockTimeoutMs)}.`,
    );
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new HubError("INVALID_INPUT", `Expected an AbortSignal (new AbortController().signal) for signal.`);
  }
  const folder = modelCacheFolder(repo, { revision, cacheDir });
  return { repo, revision, endpoint, token, cacheDir, offline, folder, lockTimeoutMs, signal };
}

/** huggingface_hub's `_is_true`: 1, ON, YES, TRUE in any case. */
function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "on", "yes", "true"].includes(value.trim().toLowerCase());
}
