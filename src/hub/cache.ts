/**
 * What a cache folder holds: the files a dtype needs, and the manifest (`.florence2-download.json`) that records
 * the commit, every file verified when it was written, and what the Hub listed, so that an offline load can check.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { MODEL_JSON_FILES, MODULES, onnxFilePath, resolveDtypes, type DtypeOption } from "../runtime/dtypes";
import { readJsonObjectOrUndefined } from "../util/json-file";
import { HubError, fileSystemError } from "./errors";
import { statOrNull } from "./files";
import { externalDataFiles, type RemoteFile } from "./listing";
import type { Settings } from "./settings";

/** Records what was downloaded and verified, and what the Hub listed, so that an offline load can check. */
export const MANIFEST_FILE = ".florence2-download.json";

export interface Manifest {
  repo: string;
  revision: string;
  commit: string;
  endpoint: string;
  /** Files in the folder whose size and hash were checked when they were written. */
  files: Record<string, RemoteFile>;
  /** Every file the repository lists, so that offline loads know which external-data files a graph needs. */
  listing: Record<string, RemoteFile>;
}

/** The files a model folder needs for a dtype: the JSON/tokenizer files and one ONNX file per module. */
export function requiredFiles(dtype?: DtypeOption): string[] {
  const dtypes = resolveDtypes(dtype);
  return [...MODEL_JSON_FILES, ...MODULES.map((m) => onnxFilePath(m, dtypes[m]))];
}

export interface CacheProblem {
  path: string;
  reason: string;
}

/** Files of the folder that are missing or do not match what was verified when they were downloaded. */
export function inspectCache(folder: string, wanted: readonly string[]): CacheProblem[] {
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

export function readManifest(folder: string): Manifest | null {
  // No manifest (a folder copied by hand) or a damaged one: judge the folder by its files alone.
  const parsed = readJsonObjectOrUndefined(path.join(folder, MANIFEST_FILE)) as Partial<Manifest> | undefined;
  return parsed && typeof parsed.files === "object" && typeof parsed.listing === "object" ? (parsed as Manifest) : null;
}

export function writeManifest(folder: string, manifest: Manifest): void {
  const temp = path.join(folder, `${MANIFEST_FILE}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
  try {
    fs.writeFileSync(temp, JSON.stringify(manifest, null, 1));
    fs.renameSync(temp, path.join(folder, MANIFEST_FILE));
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw fileSystemError(err, folder, 0);
  }
}

export function emptyManifest(s: Settings, commit: string): Manifest {
  return { repo: s.repo, revision: s.revision, commit, endpoint: s.endpoint, files: {}, listing: {} };
}

/** What the Hugging Face cache had to offer, for the offline message. */
export interface HfCacheReport {
  hubCache: string;
  problems: readonly CacheProblem[];
  absent?: string;
}

export function offlineIncompleteError(s: Settings, problems: readonly CacheProblem[], hf?: HfCacheReport): HubError {
  const list = problems.map((p) => (p.reason === "missing" ? p.path : `${p.path} (${p.reason})`)).join(", ");
  const none = problems.length > 0 && !fs.existsSync(s.folder);
  const hfText = !hf
    ? ""
    : hf.absent
      ? `, nor in the Hugging Face cache ${hf.hubCache} (${hf.absent})`
      : `, and the Hugging Face cache's copy in ${hf.hubCache} cannot be used: ` +
        hf.problems.map((p) => (p.reason === "missing" ? `${p.path} missing` : `${p.path}: ${p.reason}`)).join(", ");
  return new HubError(
    "OFFLINE_INCOMPLETE",
    `HF_HUB_OFFLINE is set, so ${s.repo} (revision ${s.revision}) must come from the cache, but ` +
      (none
        ? `nothing is cached in ${s.folder}`
        : `the cached copy in ${s.folder} is incomplete: missing or damaged ${list}`) +
      hfText +
      `. Unset HF_HUB_OFFLINE to download ${none ? "it" : "these files"}, copy a complete model folder there, ` +
      `or pass the path of a model folder to Florence2.load.`,
  );
}
