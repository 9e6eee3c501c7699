/**
 * Partial files: bytes go to `.partial/<hash>~<host>~<pid>.part` and only a verified file is renamed to its final
 * name, so a killed process never leaves a file that looks complete. The next process adopts a dead process's
 * partial file (an atomic rename) and resumes it.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFolder, pathInside, readdirOrEmpty, statOrNull } from "./files";
import { HUB_LIMITS } from "./limits";
import type { RemoteFile } from "./listing";
import { HOST, processAlive } from "./owner";

export const PARTIAL_DIR = ".partial";

/** Key of a file's partial downloads: its expected hash, so bytes of another version are never resumed. */
export function partialKey(file: RemoteFile): string {
  return file.sha256 ?? file.gitOid ?? crypto.createHash("sha256").update(`${file.path}:${file.size}`).digest("hex");
}

/** Bytes already on disk for `file` (the most any partial file of it holds). */
export function partialBytes(folder: string, file: RemoteFile): number {
  const dir = path.join(folder, PARTIAL_DIR);
  const key = `${partialKey(file)}~`;
  const names = readdirOrEmpty(dir).filter((n) => n.startsWith(key));
  return Math.max(0, ...names.map((n) => Math.min(file.size, statOrNull(path.join(dir, n))?.size ?? 0)));
}

/**
 * The partial file this process writes for `key`: its own from an earlier attempt, else one adopted from a
 * process that died (renamed, so two adopters cannot both get it), else a new one.
 */
export function claimPartial(dir: string, key: string): string {
  makeFolder(dir);
  const mine = pathInside(dir, `${key}~${HOST}~${process.pid}.part`);
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
  return !stat || Date.now() - stat.mtimeMs > HUB_LIMITS.staleLockMs;
}

/** After a complete download, partial files of dead processes (older versions) are only clutter. */
export function removeDeadPartials(folder: string): void {
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
