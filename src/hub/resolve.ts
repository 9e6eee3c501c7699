/**
 * `resolveModelFolder("onnx-community/Florence-2-base-ft", { dtype })` returns a local folder holding the JSON
 * files and the ONNX files that dtype needs, downloading what is missing into `models/<org>/<name>/<revision>/`
 * (or `cacheDir` / `FLORENCE2_CACHE`).
 */
import { inspectCache, offlineIncompleteError, requiredFiles } from "./cache";
import { downloadModel } from "./download";
import { existingFolder, parseRepoId, readSettings, type ResolveOptions } from "./settings";

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
