/**
 * What a model file's bytes should be, from a record kept beside it: this project's download manifest, or the
 * name of the Hugging Face cache blob the file links to (`blobs/<sha256>` for LFS files, `blobs/<git blob id>` for
 * small ones, as huggingface_hub names them). A file without either cannot be called damaged or intact.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readManifest } from "./cache";
import type { RemoteFile } from "./listing";
import { contentMismatch } from "./verify";

export interface FileRecord {
  expected: RemoteFile;
  /** Where the record comes from, in words for a message. */
  source: string;
  /** The file lies in the Hugging Face cache, which this project never changes. */
  inHfCache: boolean;
}

const SHA256 = /^[0-9a-f]{64}$/;
const GIT_OID = /^[0-9a-f]{40}$/;

/** The record for `relative` in `folder`, or null when nothing says what its bytes should be. */
export function fileRecord(folder: string, relative: string): FileRecord | null {
  const file = path.join(folder, relative);
  const blob = hfBlobRecord(file, relative);
  if (blob) return blob;
  const recorded = readManifest(folder)?.files[relative];
  if (recorded && (recorded.sha256 || recorded.gitOid)) {
    return { expected: recorded, source: "the record of its download", inHfCache: false };
  }
  return null;
}

/**
 * A file that resolves into a `blobs/` folder whose name is a hash: huggingface_hub names each blob after its
 * content, so the name is the record. The size is the blob's own (the hash covers it).
 */
export function hfBlobRecord(file: string, relative: string): FileRecord | null {
  let real: string;
  let size: number;
  try {
    real = fs.realpathSync(file);
    size = fs.statSync(real).size;
  } catch {
    return null;
  }
  const name = path.basename(real);
  if (path.basename(path.dirname(real)) !== "blobs") return null;
  const source = "its Hugging Face cache blob name";
  if (SHA256.test(name)) return { expected: { path: relative, size, sha256: name }, source, inHfCache: true };
  if (GIT_OID.test(name)) return { expected: { path: relative, size, gitOid: name }, source, inHfCache: true };
  return null;
}

/** null when the file matches its record; else what differs. */
export function checkAgainstRecord(folder: string, record: FileRecord): Promise<string | null> {
  return contentMismatch(path.join(folder, record.expected.path), record.expected);
}
