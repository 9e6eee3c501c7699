/**
 * The repository's file listing (the tree API, `/api/models/{repo}/tree/{commit}`) as this module reads it:
 * each file's path, size and hashes, and the files a dtype needs from it.
 */
import type { ListFileEntry } from "@huggingface/hub";
import { DEFAULT_MODEL } from "./defaults";
import { HubError } from "./errors";
import type { Settings } from "./settings";

/** A repository file as the tree API lists it. */
export interface RemoteFile {
  path: string;
  size: number;
  /** sha256 of the content (LFS files). */
  sha256?: string;
  /** git blob id: sha1 of `blob <size>\0<content>` (every file; the one check for small files). */
  gitOid?: string;
}

/**
 * A tree entry as this module checks it. LFS entries carry the content's sha256 and size; a Xet-stored entry
 * without LFS facts has only a Xet hash (not a sha256), so its size is all that can be checked; other entries
 * are small git files, checked by their git blob id.
 */
export function remoteFile(entry: ListFileEntry): RemoteFile {
  if (entry.lfs) return { path: entry.path, size: entry.lfs.size, sha256: entry.lfs.oid };
  if (entry.xetHash) return { path: entry.path, size: entry.size };
  return { path: entry.path, size: entry.size, gitOid: entry.oid };
}

/** The wanted files and their external-data files, as listed; a wanted file the repo lacks is a clear 404. */
export function selectFiles(listing: readonly RemoteFile[], wanted: readonly string[], s: Settings): RemoteFile[] {
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

/** ONNX external-data files (`x.onnx_data`, `x.onnx_data_1`, ...) that the repository lists for the wanted graphs. */
export function externalDataFiles(wanted: readonly string[], listed: readonly string[]): string[] {
  const onnx = wanted.filter((f) => f.endsWith(".onnx"));
  const patterns = onnx.map((o) => new RegExp(`^${escapeRegExp(o)}_data(_\\d+)?$`));
  return listed.filter((p) => patterns.some((pattern) => pattern.test(p)));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
