/**
 * What a call to `resolveModelFolder` works with: the repository id and revision it was given, checked, and the
 * environment's settings in the Hub's own conventions (huggingface_hub's `constants.py`): `HF_ENDPOINT` for a
 * mirror, `HF_TOKEN` (else the token file `hf auth login` writes, `HF_TOKEN_PATH` or `$HF_HOME/token`),
 * `HF_HUB_OFFLINE`, the Hugging Face cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`; `HF_HOME` defaults to
 * `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), plus this project's own cache, `FLORENCE2_CACHE`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
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
  /** Where downloaded models go; default `FLORENCE2_CACHE`, else `defaultCacheDir()`. */
  cacheDir?: string;
  /** Access token for private or gated repos; default `HF_TOKEN`, else the token file under `HF_HOME`. */
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
  /** Where the token came from, for messages: "the token option", "HF_TOKEN" or "the token file <path>". */
  tokenSource?: string;
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

/**
 * `FLORENCE2_CACHE` if set; else, in a clone of this project, its `models/` folder; else (the package loaded as a
 * dependency, from inside a `node_modules` that the next `npm ci` wipes) the user's cache folder, `userCacheDir()`.
 */
export function defaultCacheDir(): string {
  const fromEnv = process.env.FLORENCE2_CACHE;
  if (fromEnv) return path.resolve(expandHome(fromEnv));
  return projectCacheDir(fs.realpathSync(__dirname));
}

/** The default cache for code living in `dir` (realpath: notebooks may reach src/ through a symlink). */
export function projectCacheDir(dir: string): string {
  const root = projectRoot(dir);
  if (root && !root.split(path.sep).includes("node_modules")) return path.join(root, "models");
  return userCacheDir();
}

/**
 * This project's folder in the user's cache, where Node tools keep theirs (the env-paths convention):
 * `$XDG_CACHE_HOME/florence2-ts`, else `~/.cache/florence2-ts`; `~/Library/Caches/florence2-ts` on macOS;
 * `%LOCALAPPDATA%\florence2-ts\Cache` on Windows.
 */
export function userCacheDir(platform: NodeJS.Platform = process.platform): string {
  const home = os.homedir();
  if (platform === "darwin") return path.join(home, "Library", "Caches", "florence2-ts");
  if (platform === "win32") return path.join(process.env.LOCALAPPDATA || path.join(home, "AppData", "Local"), "florence2-ts", "Cache");
  return path.join(expandHome(process.env.XDG_CACHE_HOME || path.join(home, ".cache")), "florence2-ts");
}

/** huggingface_hub's HF_HOME: `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(): string {
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.resolve(expandHome(process.env.HF_HOME || path.join(xdg, "huggingface")));
}

/** The Hugging Face cache: `$HF_HUB_CACHE` (or its older name HUGGINGFACE_HUB_CACHE), else `$HF_HOME/hub`. */
export function hfHubCacheDir(): string {
  const fromEnv = process.env.HF_HUB_CACHE || process.env.HUGGINGFACE_HUB_CACHE;
  return path.resolve(expandHome(fromEnv || path.join(hfHome(), "hub")));
}

/** Where `hf auth login` saves the token: `$HF_TOKEN_PATH`, else `$HF_HOME/token`. */
export function hfTokenFile(): string {
  return path.resolve(expandHome(process.env.HF_TOKEN_PATH || path.join(hfHome(), "token")));
}

/** `~/x` as huggingface_hub's `os.path.expanduser` reads it. */
function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") || p.startsWith("~\\") ? path.join(os.homedir(), p.slice(1)) : p;
}

function projectRoot(start: string): string | null {
  let dir = start;
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
  const { token, tokenSource } = readToken(options.token);
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
  return { repo, revision, endpoint, token, tokenSource, cacheDir, offline, folder, lockTimeoutMs, signal };
}

/**
 * The token option, else HF_TOKEN, else the token file of `hf auth login`, as huggingface_hub reads them. Any form
 * is sent (mirrors behind HF_ENDPOINT issue their own), except one an HTTP header cannot carry.
 */
function readToken(option: string | undefined): { token?: string; tokenSource?: string } {
  let token: string | undefined;
  let tokenSource: string | undefined;
  if (option !== undefined) [token, tokenSource] = [option, "the token option"];
  else if (process.env.HF_TOKEN) [token, tokenSource] = [process.env.HF_TOKEN, "HF_TOKEN"];
  else {
    const file = hfTokenFile();
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, "utf8").trim();
    } catch {
      // No token file: public models need none.
    }
    if (text) [token, tokenSource] = [text, `the token file ${file}`];
  }
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new HubError(
      "INVALID_INPUT",
      `The Hugging Face token (${tokenSource}) is ${token === "" ? "empty" : "not one word of printable ASCII characters"}, ` +
        `which an HTTP header cannot carry. Copy the token again from https://huggingface.co/settings/tokens (or your ` +
        `mirror), or unset it for public models.`,
    );
  }
  return { token, tokenSource };
}

/** huggingface_hub's `_is_true`: 1, ON, YES, TRUE in any case. */
function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "on", "yes", "true"].includes(value.trim().toLowerCase());
}
