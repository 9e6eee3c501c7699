/** Whether bytes on disk are the ones the listing describes: size, then sha256 (LFS files) or git blob id. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { statOrNull } from "./files";
import type { RemoteFile } from "./listing";

/** null when the file's size and hashes are those listed; else what differs. */
export async function contentMismatch(file: string, expected: RemoteFile): Promise<string | null> {
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

/** Whether two listings of a file describe the same bytes. */
export function sameContent(a: RemoteFile, b: RemoteFile): boolean {
  if (a.size !== b.size) return false;
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  return !!a.gitOid && a.gitOid === b.gitOid;
}
