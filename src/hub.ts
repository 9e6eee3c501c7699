/**
 * Model folders from the Hugging Face Hub. `resolveModelFolder("onnx-community/Florence-2-base-ft", { dtype })`
 * returns a local folder holding the JSON files and the ONNX files that dtype needs, downloading what is
 * missing into `models/<org>/<name>/<revision>/` (or `cacheDir` / `FLORENCE2_CACHE`).
 *
 * Conventions are the Hub's own (huggingface_hub's `constants.py` and `file_download.py`): `HF_ENDPOINT` for a
 * mirror, `HF_TOKEN` sent as `Authorization: Bearer`, `HF_HUB_OFFLINE=1` for no network, a revision per
 * folder. Each file's size and hash come from the tree API (`/api/models/{repo}/tree/{commit}`): LFS files
 * carry the sha256 of their content (`lfs.oid`, the value the resolve endpoint sends as `X-Linked-Etag`), and
 * small files carry their git blob id (`oid`, sent as `ETag`), so every byte written here is checked.
 *
 * Safety of the cache:
 * - bytes go to `.partial/<hash>~<host>~<pid>.part`, and only a file whose size and hash match is renamed
 *   to its final name (one atomic rename), so a killed process never leaves a file that looks complete;
 * - the next process adopts a dead process's partial file (atomic rename again) and resumes it with `Range`;
 * - a lock file (`.florence2-download.lock`, with the owner's pid and host, kept fresh by a heartbeat)
 *   lets one process download while others wait; a lock whose owner died is taken over. Even if two
 *   processes ever wrote at once, each writes only its own partial file and renames verified bytes.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HubApiError, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { MODEL_JSON_FILES, MODULES, onnxFilePath, resolveDtypes, type DtypeOption } from "./dtypes";
import { createDownloadProgress, formatBytes, type DownloadProgress, type ProgressOption } from "./progress";

/** The Florence-2 exports in the onnx-community layout that this project loads by id. */
export const FLORENCE2_MODELS = [
  "onnx-community/Florence-2-base-ft",
  "onnx-community/Florence-2-large-ft",
  "onnx-community/Florence-2-base",
  "onnx-community/Florence-2-large",
] as const;
export const DEFAULT_MODEL = FLORENCE2_MODELS[0];
export const DEFAULT_ENDPOINT = "https://huggingface.co";
export const DEFAULT_REVISION = "main";

/** Records what was downloaded and verified, and what the Hub listed, so that an offline load can check. */
export const MANIFEST_FILE = ".florence2-download.json";
export const LOCK_FILE = ".florence2-download.lock";
export const PARTIAL_DIR = ".partial";

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
  /** Download progress (see progress.ts); default "auto". */
  progress?: ProgressOption;
}

export type HubErrorCode =
  | "INVALID_INPUT"
  | "NETWORK"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "HTTP"
  | "INTEGRITY"
  | "DISK_FULL"
  | "OFFLINE_INCOMPLETE";

/** Every failure of this module: `code` says which kind, the message says what to do. */
export class HubError extends Error {
  override name = "HubError";
  constructor(
    readonly code: HubErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** How long a download may receive nothing before the connection is dropped and resumed. */
const STALL_TIMEOUT_MS = 60_000;
/** Attempts per file when the connection drops, waiting 0.25 s, 0.5 s, 1 s, 2 s between them. */
const MAX_ATTEMPTS = 5;
const RETRY_BASE_MS = 250;
/** The lock holder touches the lock this often; a lock untouched for STALE_LOCK_MS has lost its owner. */
const LOCK_HEARTBEAT_MS = 10_000;
const STALE_LOCK_MS = 120_000;
const LOCK_POLL_MS = 250;
const HOST = os.hostname();

/** A repository file as the tree API lists it. */
export interface RemoteFile {
  path: string;
  size: number;
  /** sha256 of the content (LFS files). */
  sha256?: string;
  /** git blob id: sha1 of `blob <size>\0<content>` (every file; the one check for small files). */
  gitOid?: string;
}

interface Manifest {
  repo: string;
  revision: string;
  commit: string;
  endpoint: string;
  /** Files in the folder whose size and hash were checked when they were written. */
  files: Record<string, RemoteFile>;
  /** Every file the repository lists, so that offline loads know which external-data files a graph needs. */
  listing: Record<string, RemoteFile>;
}

interface Settings {
  repo: string;
  revision: string;
  endpoint: string;
  token?: string;
  cacheDir: string;
  offline: boolean;
  folder: string;
}

/**
 * A local folder for `folderOrId`: an existing folder is returned as it is; a Hub id (`org/name`) gives its
 * cache folder, downloaded or completed first unless it already holds every file the dtype needs.
 */
export async function resolveModelFolder(folderOrId: string, options: ResolveOptions = {}): Promise<string> {
  const local = existingFolder(folderOrId);
  if (local) return local;
  const wanted = requiredFiles(options.dtype);
  const settings = readSettings(parseRepoId(folderOrId), options);
  const problems = inspectCache(settings.folder, wanted);
  if (problems.length === 0) return settings.folder;
  if (settings.offline) throw offlineIncompleteError(settings, problems);
  await downloadModel(settings, wanted, options.progress ?? "auto");
  return settings.folder;
}

/** The files a model folder needs for a dtype: the JSON/tokenizer files and one ONNX file per module. */
export function requiredFiles(dtype?: DtypeOption): string[] {
  const dtypes = resolveDtypes(dtype);
  return [...MODEL_JSON_FILES, ...MODULES.map((m) => onnxFilePath(m, dtypes[m]))];
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
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: string }).name === "florence2-ts") return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Input checks

function existingFolder(folderOrId: string): string | null {
  if (typeof folderOrId !== "string" || folderOrId.trim() === "") {
    throw new HubError(
      "INVALID_INPUT",
      `Expected a model folder or a Hub model id like "${DEFAULT_MODEL}" but received ${JSON.stringify(folderOrId)}.`,
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
function parseRepoId(id: string): string {
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
      `Expected a revision (branch, tag or commit hash, e.g. "main") but received ${JSON.stringify(revision)}.`,
    );
  }
  return revision;
}

function readSettings(repo: string, options: ResolveOptions): Settings {
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
  return { repo, revision, endpoint, token, cacheDir, offline, folder: modelCacheFolder(repo, { revision, cacheDir }) };
}

/** huggingface_hub's `_is_true`: 1, ON, YES, TRUE in any case. */
function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "on", "yes", "true"].includes(value.trim().toLowerCase());
}

// ---------------------------------------------------------------------------------------------------------
// What the cache holds

interface CacheProblem {
  path: string;
  reason: string;
}

/** Files of the folder that are missing or do not match what was verified when they were downloaded. */
function inspectCache(folder: string, wanted: readonly string[]): CacheProblem[] {
  const manifest = readManifest(folder);
  const needed = [...wanted, ...externalDataFiles(wanted, Object.keys(manifest?.listing ?? {}))];
  const problems: CacheProblem[] = [];
  for (const file of needed) {
    const stat = statOrNull(path.join(folder, file));
    const recorded = manifest?.files[file];
    if (!stat?.isFile()) problems.push({ path: file, reason: "missing" });
    else if (recorded && recorded.size !== stat.size) {
      problems.push({ path: file, reason: `${stat.size} bytes where ${recorded.size} were verified` });
    }
  }
  return problems;
}

/** ONNX external-data files (`x.onnx_data`, `x.onnx_data_1`, ...) that the repository lists for the wanted graphs. */
function externalDataFiles(wanted: readonly string[], listed: readonly string[]): string[] {
  const onnx = wanted.filter((f) => f.endsWith(".onnx"));
  const patterns = onnx.map((o) => new RegExp(`^${escapeRegExp(o)}_data(_\\d+)?$`));
  return listed.filter((p) => patterns.some((pattern) => pattern.test(p)));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function readManifest(folder: string): Manifest | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST_FILE), "utf8")) as Manifest;
    return parsed && typeof parsed.files === "object" && typeof parsed.listing === "object" ? parsed : null;
  } catch {
    // No manifest (a folder copied by hand) or a damaged one: judge the folder by its files alone.
    return null;
  }
}

function writeManifest(folder: string, manifest: Manifest): void {
  const temp = path.join(folder, `${MANIFEST_FILE}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
  try {
    fs.writeFileSync(temp, JSON.stringify(manifest, null, 1));
    fs.renameSync(temp, path.join(folder, MANIFEST_FILE));
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw fileSystemError(err, folder, 0);
  }
}

function offlineIncompleteError(s: Settings, problems: readonly CacheProblem[]): HubError {
  const list = problems.map((p) => (p.reason === "missing" ? p.path : `${p.path} (${p.reason})`)).join(", ");
  const none = problems.length > 0 && !fs.existsSync(s.folder);
  return new HubError(
    "OFFLINE_INCOMPLETE",
    `HF_HUB_OFFLINE is set, so ${s.repo} (revision ${s.revision}) must come from the cache, but ` +
      (none
        ? `nothing is cached in ${s.folder}`
        : `the cached copy in ${s.folder} is incomplete: missing or damaged ${list}`) +
      `. Unset HF_HUB_OFFLINE to download ${none ? "it" : "these files"}, copy a complete model folder there, ` +
      `or pass the path of a model folder to Florence2.load.`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Download

async function downloadModel(s: Settings, wanted: readonly string[], progressOption: ProgressOption): Promise<void> {
  makeFolder(s.folder);
  const release = await acquireLock(s.folder, (text) => progressNotice(progressOption, text));
  try {
    // Another process may have completed the folder while this one waited for the lock.
    if (inspectCache(s.folder, wanted).length === 0) return;
    const hub = new HubClient(s);
    const commit = await hub.commitOf(s.revision);
    const listing = await hub.listing(commit);
    const selected = selectFiles(listing, wanted, s);
    const manifest = readManifest(s.folder) ?? emptyManifest(s, commit);
    manifest.commit = commit;
    manifest.revision = s.revision;
    manifest.endpoint = s.endpoint;
    manifest.listing = Object.fromEntries(listing.map((f) => [f.path, f]));
    const todo = await filesToDownload(s.folder, selected, manifest);
    writeManifest(s.folder, manifest);
    if (todo.length === 0) return;
    await checkFreeSpace(s.folder, todo);
    const progress = createDownloadProgress(s.repo, todo, progressOption);
    let finished = false;
    try {
      for (const file of todo) {
        await downloadFile(s, commit, file, progress);
        manifest.files[file.path] = file;
        writeManifest(s.folder, manifest);
      }
      finished = true;
    } finally {
      progress.finish(finished);
    }
    removeDeadPartials(s.folder);
  } finally {
    release();
    removeEmptyFolders(s.folder, s.cacheDir);
  }
}

/** A download that failed before writing anything leaves no empty folders behind. */
function removeEmptyFolders(folder: string, cacheDir: string): void {
  for (let dir = folder; dir.startsWith(cacheDir + path.sep); dir = path.dirname(dir)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
  }
}

function emptyManifest(s: Settings, commit: string): Manifest {
  return { repo: s.repo, revision: s.revision, commit, endpoint: s.endpoint, files: {}, listing: {} };
}

function progressNotice(option: ProgressOption, text: string): void {
  createDownloadProgress("", [], option).message(text);
}

/** The wanted files and their external-data files, as listed; a wanted file the repo lacks is a clear 404. */
function selectFiles(listing: readonly RemoteFile[], wanted: readonly string[], s: Settings): RemoteFile[] {
  const byPath = new Map(listing.map((f) => [f.path, f]));
  const absent = wanted.filter((w) => !byPath.has(w));
  if (absent.length > 0) {
    const onnx = listing.filter((f) => f.path.startsWith("onnx/") && f.path.endsWith(".onnx")).map((f) => f.path);
    throw new HubError(
      "NOT_FOUND",
      `${s.repo} (revision ${s.revision}) has no ${absent.join(", ")}. ` +
        (absent.some((a) => a.endsWith(".onnx"))
          ? `That dtype is not exported there; its ONNX files are: ${onnx.join(", ") || "none"}. Choose another dtype.`
          : `It is not a Florence-2 export in the onnx-community layout; try "${DEFAULT_MODEL}".`),
    );
  }
  const extra = externalDataFiles(wanted, [...byPath.keys()]);
  return [...wanted, ...extra].map((p) => byPath.get(p) as RemoteFile);
}

/** Listed files whose local copy is absent or differs; a local file unknown to the manifest is hashed once. */
async function filesToDownload(
  folder: string,
  files: readonly RemoteFile[],
  manifest: Manifest,
): Promise<RemoteFile[]> {
  const todo: RemoteFile[] = [];
  for (const file of files) {
    const stat = statOrNull(path.join(folder, file.path));
    if (stat?.isFile() && stat.size === file.size) {
      const recorded = manifest.files[file.path];
      if (recorded && sameContent(recorded, file)) continue;
      if ((await contentMismatch(path.join(folder, file.path), file)) === null) {
        manifest.files[file.path] = file;
        continue;
      }
    }
    delete manifest.files[file.path];
    todo.push(file);
  }
  return todo;
}

function sameContent(a: RemoteFile, b: RemoteFile): boolean {
  if (a.size !== b.size) return false;
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  return !!a.gitOid && a.gitOid === b.gitOid;
}

async function checkFreeSpace(folder: string, files: readonly RemoteFile[]): Promise<void> {
  const needed = files.reduce((sum, f) => sum + f.size - partialBytes(folder, f), 0);
  let free: number;
  try {
    const st = await fs.promises.statfs(folder);
    free = st.bavail * st.bsize;
  } catch {
    // statfs is unsupported on some file systems; the write itself will still report ENOSPC.
    return;
  }
  if (needed > free) throw diskFullError(folder, needed, free);
}

function diskFullError(folder: string, needed: number, free?: number): HubError {
  return new HubError(
    "DISK_FULL",
    `Not enough disk space in ${folder}: the download needs ${formatBytes(needed)} more` +
      (free !== undefined ? ` and ${formatBytes(free)} is free` : "") +
      `. Free some space, or choose another cache folder with the cacheDir option or FLORENCE2_CACHE.`,
  );
}

/** Key of a file's partial downloads: its expected hash, so bytes of another version are never resumed. */
function partialKey(file: RemoteFile): string {
  return file.sha256 ?? file.gitOid ?? crypto.createHash("sha256").update(`${file.path}:${file.size}`).digest("hex");
}

function partialBytes(folder: string, file: RemoteFile): number {
  const dir = path.join(folder, PARTIAL_DIR);
  const key = `${partialKey(file)}~`;
  const names = readdirOrEmpty(dir).filter((n) => n.startsWith(key));
  return Math.max(0, ...names.map((n) => Math.min(file.size, statOrNull(path.join(dir, n))?.size ?? 0)));
}

async function downloadFile(s: Settings, commit: string, file: RemoteFile, progress: DownloadProgress): Promise<void> {
  const partial = claimPartial(path.join(s.folder, PARTIAL_DIR), partialKey(file));
  const filePath = file.path.split("/").map(encodeURIComponent).join("/");
  const url = `${s.endpoint}/${s.repo}/resolve/${encodeURIComponent(commit)}/${filePath}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await transfer(s, url, file, partial, progress);
      break;
    } catch (err) {
      if (!(err instanceof RetryableError) || attempt >= MAX_ATTEMPTS) {
        throw err instanceof RetryableError ? err.cause : err;
      }
      await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
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
  const stall = setTimeout(() => controller.abort(), STALL_TIMEOUT_MS);
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
            `${MAX_ATTEMPTS} times. Try again later; the next load resumes it.`,
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

/**
 * The partial file this process writes for `key`: its own from an earlier attempt, else one adopted from a
 * process that died (renamed, so two adopters cannot both get it), else a new one.
 */
function claimPartial(dir: string, key: string): string {
  makeFolder(dir);
  const mine = path.join(dir, `${key}~${HOST}~${process.pid}.part`);
  if (fs.existsSync(mine)) return mine;
  for (const name of readdirOrEmpty(dir)) {
    const owner = parsePartialName(name);
    if (!owner || owner.key !== key || !ownerIsGone(owner, path.join(dir, name))) continue;
    try {
      fs.renameSync(path.join(dir, name), mine);
      return mine;
    } catch {
      // Another process adopted it first.
    }
  }
  return mine;
}

function parsePartialName(name: string): { key: string; host: string; pid: number } | null {
  const m = /^([0-9a-f]+)~(.+)~(\d+)\.part$/.exec(name);
  return m ? { key: m[1], host: m[2], pid: Number(m[3]) } : null;
}

/** An owner on this host is gone when its pid is; on another host (shared disk), when it stopped writing long ago. */
function ownerIsGone(owner: { host: string; pid: number }, file: string): boolean {
  if (owner.host === HOST) return owner.pid !== process.pid && !processAlive(owner.pid);
  const stat = statOrNull(file);
  return !stat || Date.now() - stat.mtimeMs > STALE_LOCK_MS;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** After a complete download, partial files of dead processes (older versions) are only clutter. */
function removeDeadPartials(folder: string): void {
  const dir = path.join(folder, PARTIAL_DIR);
  for (const name of readdirOrEmpty(dir)) {
    const owner = parsePartialName(name);
    if (owner && ownerIsGone(owner, path.join(dir, name))) fs.rmSync(path.join(dir, name), { force: true });
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty: another process is still writing there.
  }
}

/** null when the file's size and hashes are those listed; else what differs. */
async function contentMismatch(file: string, expected: RemoteFile): Promise<string | null> {
  const size = statOrNull(file)?.size ?? -1;
  if (size !== expected.size) return `its size is ${size} bytes, expected ${expected.size}`;
  const sha256 = crypto.createHash("sha256");
  const git = crypto.createHash("sha1").update(`blob ${size}\0`);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    if (expected.sha256) sha256.update(chunk as Buffer);
    else git.update(chunk as Buffer);
  }
  if (expected.sha256) {
    const actual = sha256.digest("hex");
    return actual === expected.sha256 ? null : `its sha256 is ${actual}, expected ${expected.sha256}`;
  }
  if (expected.gitOid) {
    const actual = git.digest("hex");
    return actual === expected.gitOid ? null : `its git blob id is ${actual}, expected ${expected.gitOid}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// The folder lock

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/**
 * Waits until this process holds the folder's lock; returns the function that releases it. Written by hand:
 * no lock package is among the project's dependencies, and `open(..., "wx")` is the atomic primitive needed.
 */
async function acquireLock(folder: string, notice: (text: string) => void): Promise<() => void> {
  const lockPath = path.join(folder, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, host: HOST, since: new Date().toISOString() } satisfies LockOwner);
  let noticed = false;
  for (;;) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: "wx" });
      return holdLock(lockPath, mine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fileSystemError(err, folder, 0);
    }
    const held = readLock(lockPath);
    if (held && lockIsStale(held.owner, held.mtimeMs)) {
      takeOverStaleLock(lockPath, held.text);
      continue;
    }
    if (held && !noticed) {
      noticed = true;
      notice(
        `Another process (pid ${held.owner?.pid ?? "?"} on ${held.owner?.host ?? "?"}) is downloading into ` +
          `${folder}; waiting for it to finish.`,
      );
    }
    await sleep(LOCK_POLL_MS);
  }
}

function holdLock(lockPath: string, mine: string): () => void {
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now, () => undefined);
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    // Remove the lock only if it is still ours (a stalled holder's lock may have been taken over).
    if (readLock(lockPath)?.text === mine) fs.rmSync(lockPath, { force: true });
  };
}

function readLock(lockPath: string): { text: string; owner: LockOwner | null; mtimeMs: number } | null {
  try {
    const text = fs.readFileSync(lockPath, "utf8");
    const mtimeMs = fs.statSync(lockPath).mtimeMs;
    let owner: LockOwner | null = null;
    try {
      owner = JSON.parse(text) as LockOwner;
    } catch {
      // Written half-way by a process that died between open and write: the mtime decides.
    }
    return { text, owner, mtimeMs };
  } catch {
    return null;
  }
}

function lockIsStale(owner: LockOwner | null, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > STALE_LOCK_MS) return true;
  return !!owner && owner.host === HOST && owner.pid !== process.pid && !processAlive(owner.pid);
}

/**
 * Moves a stale lock aside, then deletes it. If the lock changed between reading and moving (another process
 * took it over first and now holds a live lock), the moved lock is put back with link(), which never overwrites.
 */
function takeOverStaleLock(lockPath: string, staleText: string): void {
  const aside = `${lockPath}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.stale`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return;
  }
  try {
    if (fs.readFileSync(aside, "utf8") !== staleText) fs.linkSync(aside, lockPath);
  } catch {
    // A new lock already exists; the live one stays and this process keeps waiting.
  }
  fs.rmSync(aside, { force: true });
}

// ---------------------------------------------------------------------------------------------------------
// Talking to the Hub

/**
 * The Hub's JSON API through @huggingface/hub (`modelInfo` for the commit, `listFiles` for the tree with its
 * pagination). Its `fetch` hook lets this class turn network failures and HTTP errors into messages that name
 * the host, the repo and the fix; the library's own errors carry only a status and a URL.
 */
class HubClient {
  private lastError: { code: string | null; message: string | null } = { code: null, message: null };
  constructor(private readonly s: Settings) {}

  async commitOf(revision: string): Promise<string> {
    const info = await this.call(() =>
      modelInfo({
        name: this.s.repo,
        revision,
        hubUrl: this.s.endpoint,
        accessToken: this.s.token,
        fetch: this.fetch,
        additionalFields: ["sha"],
      }),
    );
    // A mirror that does not report the commit: download from the revision itself.
    return typeof info.sha === "string" && /^[0-9a-f]{40}$/.test(info.sha) ? info.sha : revision;
  }

  async listing(commit: string): Promise<RemoteFile[]> {
    return this.call(async () => {
      const files: RemoteFile[] = [];
      const entries = listFiles({
        repo: { type: "model", name: this.s.repo },
        // listFiles puts the revision in the URL as it is: fine for a commit hash, not for "refs/pr/1".
        revision: /^[0-9a-f]{40}$/.test(commit) ? commit : encodeURIComponent(commit),
        recursive: true,
        hubUrl: this.s.endpoint,
        accessToken: this.s.token,
        fetch: this.fetch,
      });
      for await (const entry of entries) {
        if (entry.type !== "file") continue;
        files.push(remoteFile(entry));
      }
      return files;
    });
  }

  private readonly fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (err) {
      throw networkError(url, err, this.s);
    }
    if (!res.ok) {
      this.lastError = { code: res.headers.get("x-error-code"), message: res.headers.get("x-error-message") };
    }
    return res;
  };

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof HubError) throw err;
      if (err instanceof HubApiError) {
        throw httpError(err.statusCode, this.lastError.code, this.lastError.message ?? err.message, this.s);
      }
      // A mirror that answers with something other than the Hub's JSON.
      throw new HubError(
        "HTTP",
        `${new URL(this.s.endpoint).host} gave an unexpected answer for ${this.s.repo}: ${(err as Error)?.message ?? err}.`,
      );
    }
  }
}

/**
 * A tree entry as this module checks it. LFS entries carry the content's sha256 and size; a Xet-stored entry
 * without LFS facts has only a Xet hash (not a sha256), so its size is all that can be checked; other entries
 * are small git files, checked by their git blob id.
 */
function remoteFile(entry: ListFileEntry): RemoteFile {
  if (entry.lfs) return { path: entry.path, size: entry.lfs.size, sha256: entry.lfs.oid };
  if (entry.xetHash) return { path: entry.path, size: entry.size };
  return { path: entry.path, size: entry.size, gitOid: entry.oid };
}

function httpError(
  status: number,
  errorCode: string | null,
  serverMessage: string | null,
  s: Settings,
  file?: RemoteFile,
): HubError {
  const said = serverMessage ? ` The server said: "${serverMessage.split(". URL:")[0]}".` : "";
  const host = new URL(s.endpoint).host;
  if (status === 401) {
    return new HubError(
      "UNAUTHORIZED",
      s.token
        ? `${host} refused the token (HF_TOKEN) for ${s.repo} (HTTP 401).${said} Check that the token is valid and ` +
            `has read access (https://huggingface.co/settings/tokens), and that the id is right.`
        : `${host} answered HTTP 401 for ${s.repo}: the model is private or gated, or does not exist (the Hub ` +
            `answers 401 for unknown repositories when no token is sent).${said} Check the id (e.g. "${DEFAULT_MODEL}"); ` +
            `for a private or gated model, create a read token at https://huggingface.co/settings/tokens and set ` +
            `HF_TOKEN=hf_... (or pass { token }).`,
    );
  }
  if (status === 403) {
    return new HubError(
      "FORBIDDEN",
      `${host} refused access to ${s.repo} (HTTP 403).${said} For a gated model, accept its terms on ` +
        `${s.endpoint}/${s.repo} with the account that owns HF_TOKEN; a fine-grained token also needs read access ` +
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

function networkError(url: string, err: unknown, s: Settings, what?: string): HubError {
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

// ---------------------------------------------------------------------------------------------------------
// Files

function isFileSystemError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === "string" && ["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE"].includes(code);
}

function fileSystemError(err: unknown, folder: string, bytesNeeded: number): HubError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return diskFullError(folder, bytesNeeded);
  if (err instanceof HubError) return err;
  return new HubError(
    "INVALID_INPUT",
    `Cannot write the model cache in ${folder} (${code ?? (err as Error)?.message}). ` +
      `Choose a writable folder with the cacheDir option or FLORENCE2_CACHE.`,
  );
}

function makeFolder(folder: string): void {
  try {
    fs.mkdirSync(folder, { recursive: true });
  } catch (err) {
    throw fileSystemError(err, folder, 0);
  }
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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
    res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? STALL_TIMEOUT_MS) });
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
