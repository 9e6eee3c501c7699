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

const SHA256 = /^[0-9a-f]{64}$/;
const GIT_OID = /^[0-9a-f]{40}$/;

/**
 * A tree entry, checked before anything is built from it: file names, partial-file names and the sizes of
 * writes come from here, so a hash must look like one (a sha256 is 64 hex characters, a git blob id 40), a size
 * must be a safe non-negative integer and a path a plain relative one. Anything else refuses the whole listing.
 *
 * LFS entries carry the content's sha256 and size (Xet-stored files too: the Hub keeps their LFS pointer); their
 * `oid` is the pointer's blob id, so it says nothing about the content. Other entries are small git files, whose
 * `oid` is the content's git blob id. An entry with neither is kept without a hash, and `selectFiles` refuses
 * to download it.
 */
export function remoteFile(entry: ListFileEntry, s: Settings): RemoteFile {
  const filePath = checkPath(entry.path, s);
  const bad = (what: string, value: unknown, expected: string) => badListing(s, filePath, what, value, expected);
  const size = (what: string, value: unknown) =>
    Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : bad(what, value, "a non-negative integer");
  const oid = (entry as { oid?: unknown }).oid;
  if (oid !== undefined && (typeof oid !== "string" || !GIT_OID.test(oid))) {
    bad("oid", oid, "a git blob id: 40 hexadecimal characters");
  }
  if (entry.lfs) {
    const sha256 = entry.lfs.oid as unknown;
    if (typeof sha256 !== "string" || !SHA256.test(sha256)) bad("lfs.oid", sha256, "a sha256: 64 hexadecimal characters");
    return { path: filePath, size: size("lfs.size", entry.lfs.size), sha256: sha256 as string };
  }
  const listedSize = size("size", entry.size);
  if (entry.xetHash || oid === undefined) return { path: filePath, size: listedSize };
  return { path: filePath, size: listedSize, gitOid: oid as string };
}

/** A repository path as git allows it: relative, "/"-separated, no empty, "." or ".." segment, no control character. */
function checkPath(value: unknown, s: Settings): string {
  const ok =
    typeof value === "string" &&
    value.length > 0 &&
    value.length <= 1024 &&
    !/[\u0000-\u001f\u007f\\]/.test(value) &&
    value.split("/").every((part) => part !== "" && part !== "." && part !== "..");
  if (!ok) badListing(s, "", "path", value, "a relative path inside the repository");
  return value as string;
}

function badListing(s: Settings, filePath: string, what: string, value: unknown, expected: string): never {
  const host = new URL(s.endpoint).host;
  const entry = filePath ? ` for ${filePath}` : "";
  throw new HubError(
    "HTTP",
    `${host} sent a file listing of ${s.repo} with ${what} ${JSON.stringify(value)}${entry}, where ${expected} ` +
      `was expected. Nothing was downloaded: names and sizes written to the cache come from this listing. ` +
      `If HF_ENDPOINT points to a mirror, it is broken or is not a Hugging Face Hub; otherwise try again later.`,
  );
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
  const selected = [...wanted, ...extra].map((p) => byPath.get(p) as RemoteFile);
  const unverifiable = selected.filter((f) => !f.sha256 && !f.gitOid).map((f) => f.path);
  if (unverifiable.length > 0) {
    throw new HubError(
      "INTEGRITY",
      `${new URL(s.endpoint).host} lists no sha256 or git blob id for ${unverifiable.join(", ")} of ${s.repo} ` +
        `(revision ${s.revision}), so its bytes cannot be verified; they were not downloaded. The Hub lists a hash ` +
        `for every file; if HF_ENDPOINT points to a mirror, use one that forwards the Hub's listing, or download ` +
        `the files yourself and pass the folder's path.`,
    );
  }
  return selected;
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
