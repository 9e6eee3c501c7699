/**
 * A model already in the Hugging Face cache, as Python's huggingface_hub and `hf download` leave it:
 *
 *   <HF_HUB_CACHE>/models--onnx-community--Florence-2-base-ft/
 *     refs/main                          the commit the revision "main" pointed to when it was downloaded
 *     snapshots/<commit>/onnx/x.onnx     a symlink to ../../../blobs/<sha256>  (LFS files)
 *     snapshots/<commit>/config.json     a symlink to ../../blobs/<git blob id> (small files)
 *     blobs/<hash>                       the bytes, named by their hash
 *
 * A snapshot that holds every file of the chosen dtype is used in place (never copied), once each file's bytes
 * match the hash its blob is named by. Nothing here writes to that cache: a damaged or partial copy is reported and
 * passed over, and the model is downloaded into this project's own cache instead.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { CacheProblem } from "./cache";
import { statOrNull } from "./files";
import { hfBlobRecord } from "./file-record";
import { contentMismatch } from "./verify";

const COMMIT = /^[0-9a-f]{40}$/;

export interface HfCacheLookup {
  /** The repository's folder in the Hugging Face cache (whether it exists or not). */
  repoFolder: string;
  /** The snapshot folder to load from, when it is complete and verified. */
  snapshot?: string;
  /** Why no snapshot could be used: nothing there, missing files, files that fail their check. */
  problems: CacheProblem[];
  /** When nothing of the repository or revision is there at all (then problems is empty). */
  absent?: string;
}

/** `models--org--name`, huggingface_hub's folder name for a model repository. */
export function hfRepoFolderName(repo: string): string {
  return `models--${repo.split("/").join("--")}`;
}

/** Files already hashed in this process, by real path, size and mtime: a second load does not hash a gigabyte again. */
const verified = new Set<string>();

/** A complete, verified snapshot of `repo` at `revision` with every `wanted` file, or why there is none. */
export async function findHfSnapshot(hubCache: string, repo: string, revision: string, wanted: readonly string[]): Promise<HfCacheLookup> {
  const repoFolder = path.join(hubCache, hfRepoFolderName(repo));
  const lookup: HfCacheLookup = { repoFolder, problems: [] };
  if (!statOrNull(repoFolder)?.isDirectory()) return { ...lookup, absent: `no ${hfRepoFolderName(repo)} there` };
  const commit = COMMIT.test(revision) ? revision : readRef(repoFolder, revision);
  if (!commit) return { ...lookup, absent: `no refs/${revision} in ${hfRepoFolderName(repo)}` };
  const snapshot = path.join(repoFolder, "snapshots", commit);
  if (!statOrNull(snapshot)?.isDirectory()) return { ...lookup, absent: `no snapshot of commit ${commit}` };

  const needed = [...wanted, ...externalDataPresent(snapshot, wanted)];
  const missing = needed.filter((f) => !statOrNull(path.join(snapshot, f))?.isFile());
  // Missing files are cheap to find; hash nothing until the snapshot could be complete.
  if (missing.length > 0) return { ...lookup, problems: missing.map((f) => ({ path: f, reason: "missing" })) };
  for (const file of needed) {
    const full = path.join(snapshot, file);
    const record = hfBlobRecord(full, file);
    if (!record) {
      lookup.problems.push({ path: file, reason: "not a link to a blob named by its hash, so it cannot be checked" });
      continue;
    }
    const real = fs.realpathSync(full);
    const stat = fs.statSync(real);
    const key = `${real}\0${stat.size}\0${stat.mtimeMs}`;
    if (verified.has(key)) continue;
    const mismatch = await contentMismatch(full, record.expected).catch((e: unknown) => `it cannot be read (${(e as Error).message})`);
    if (mismatch === null) verified.add(key);
    else lookup.problems.push({ path: file, reason: `${mismatch} (its blob name)` });
  }
  return lookup.problems.length === 0 ? { ...lookup, snapshot } : lookup;
}

/** The commit `refs/<revision>` holds, or null. */
function readRef(repoFolder: string, revision: string): string | null {
  try {
    const commit = fs.readFileSync(path.join(repoFolder, "refs", ...revision.split("/")), "utf8").trim();
    return COMMIT.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/**
 * The external-data files (`x.onnx_data`, `x.onnx_data_1`) of the wanted graphs that the snapshot has: without the
 * Hub's listing, the snapshot itself says which there are (a graph whose data file is missing fails to load, and the
 * load error names it).
 */
function externalDataPresent(snapshot: string, wanted: readonly string[]): string[] {
  const found: string[] = [];
  for (const graph of wanted.filter((f) => f.endsWith(".onnx"))) {
    const dir = path.posix.dirname(graph);
    const base = path.posix.basename(graph);
    let names: string[];
    try {
      names = fs.readdirSync(path.join(snapshot, dir));
    } catch {
      continue;
    }
    for (const n of names) if (n.startsWith(`${base}_data`) && /^_data(_\d+)?$/.test(n.slice(base.length))) found.push(path.posix.join(dir, n));
  }
  return found;
}
