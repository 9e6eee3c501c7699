/**
 * The folder lock (`.florence2-download.lock`, with the owner's pid and host, kept fresh by a heartbeat): one
 * process downloads while others wait; a lock whose owner died is taken over. Even if two processes ever wrote
 * at once, each writes only its own partial file and renames verified bytes.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileSystemError } from "./errors";
import { sleep } from "./files";
import { HUB_LIMITS } from "./limits";
import { HOST, processAlive } from "./owner";

export const LOCK_FILE = ".florence2-download.lock";

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/**
 * Waits until this process holds the folder's lock; returns the function that releases it. Written by hand:
 * no lock package is among the project's dependencies, and `open(..., "wx")` is the atomic primitive needed.
 */
export async function acquireLock(folder: string, notice: (text: string) => void): Promise<() => void> {
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
    await sleep(HUB_LIMITS.lockPollMs);
  }
}

function holdLock(lockPath: string, mine: string): () => void {
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now, () => undefined);
  }, HUB_LIMITS.lockHeartbeatMs);
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
  if (Date.now() - mtimeMs > HUB_LIMITS.staleLockMs) return true;
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
