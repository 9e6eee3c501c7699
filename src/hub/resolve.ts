/**
 * `resolveModelFolder("onnx-community/Florence-2-base-ft", { dtype })` returns a local folder holding the JSON
 * files and the ONNX files that dtype needs. Where it looks, in order:
 *
 *   1. this project's cache, `<cacheDir>/<org>/<name>/<revision>/` (cacheDir: the option, FLORENCE2_CACHE, else
 *      `defaultCacheDir()`), when it holds every file;
 *   2. the Hugging Face cache (HF_HUB_CACHE, else $HF_HOME/hub), a snapshot with every file, each matching its
 *      blob's hash: used where it is, never copied or changed (hf-cache.ts);
 *   3. a download into this project's cache (download.ts), unless HF_HUB_OFFLINE says not to.
 */
import { inspectCache, offlineIncompleteError, requiredFiles } from "./cache";
import { downloadModel } from "./download";
import { createDownloadProgress } from "./download-progress";
import { findHfSnapshot } from "./hf-cache";
import { existingFolder, hfHubCacheDir, parseRepoId, readSettings, type ResolveOptions } from "./settings";

/**
 * A local folder for `folderOrId`: an existing folder is returned as it is; a Hub id (`org/name`) gives its
 * cache folder (or a Hugging Face cache snapshot), downloaded or completed first unless one of them already holds
 * every file the dtype needs.
 */
export async function resolveModelFolder(folderOrId: string, options: ResolveOptions = {}): Promise<string> {
  const local = existingFolder(folderOrId);
  if (local) return local;
  const wanted = requiredFiles(options.dtype);
  const settings = readSettings(parseRepoId(folderOrId), options);
  const problems = inspectCache(settings.folder, wanted);
  if (problems.length === 0) return settings.folder;
  const hubCache = hfHubCacheDir();
  const hf = await findHfSnapshot(hubCache, settings.repo, settings.revision, wanted);
  if (hf.snapshot) return hf.snapshot;
  if (settings.offline) throw offlineIncompleteError(settings, problems, { hubCache, ...hf });
  const progress = options.progress ?? "auto";
  const damaged = hf.problems.filter((p) => p.reason !== "missing");
  if (damaged.length > 0) {
    createDownloadProgress("", [], progress).message(
      `The Hugging Face cache's copy of ${settings.repo} in ${hf.repoFolder} fails its check (` +
        `${damaged.map((p) => `${p.path}: ${p.reason}`).join("; ")}), so it is not used; downloading into ` +
        `${settings.folder} instead (the Hugging Face cache is left as it is).`,
    );
  }
  await downloadModel(settings, wanted, progress);
  return settings.folder;
}
