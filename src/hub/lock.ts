/**
 * The folder lock (`.florence2-download.lock`): one process downloads into a folder while the others wait. The
 * lock file holds its owner (pid, host, pid namespace, a random nonce) and is kept fresh by a heartbeat; a lock
 * whose owner is gone is taken over. Even if two processes ever wrote at once, each writes only its own partial
 * file and renames verified bytes.
 *
 * When is an owner gone? When its lock has not been touched for `staleLockMs` (its heartbeat stopped, wherever
 * it ran), or at once when its pid is dead *and* it ran in this pid namespace. A pid alone proves nothing: a
 * process in another container can share this host name and be alive under a pid that is free here.
 *
 * Taking over is exclusive. Every change to a lock someone else might read (a takeover, a release) is made
 * while holding a marker file named after that lock's exact content, created with `wx` (so only one process
 * gets it), and only after re-reading the lock under the marker. The takeover then replaces the lock with one
 * atomic rename. The old way (move the lock aside, put it back if it changed) could move a live lock away.
 *
 * Written by hand: no lock package is among the project's dependencies, and `open(..., "wx")` and `rename` are
 * the atomic primitives needed.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { HubError, fileSystemError } from "./errors";
import { sleep } from "./files";
import { HUB_LIMITS } from "./limits";
import { HOST, PID_NAMESPACE, processAlive } from "./owner";

export const LOCK_FILE = ".florence2-download.lock";

interface LockOwner {
  pid: number;
  host: string;
  /** Linux: `/proc/self/ns/pid`'s link; elsewhere the platform; null when unknown. */
  pidNamespace?: string | null;
  since: string;
  nonce?: string;
}

interface HeldLock {
  text: string;
  owner: LockOwner | null;
  mtimeMs: number;
}

export interface LockWait {
  /** Give up after this long with a LOCK_TIMEOUT HubError; default HUB_LIMITS.lockTimeoutMs. */
  timeoutMs?: number;
  /** Stop waiting when it fires, with its reason. */
  signal?: AbortSignal;
}

/** Waits until this process holds the folder's lock; returns the function that releases it. */
export async function acquireLock(
  folder: string,
  notice: (text: string) => void,
  wait: LockWait = {},
): Promise<() => void> {
  const lockPath = path.join(folder, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    host: HOST,
    pidNamespace: PID_NAMESPACE,
    since: new Date().toISOString(),
    nonce: crypto.randomBytes(8).toString("hex"),
  };
  const mine = JSON.stringify(owner);
  const timeoutMs = wait.timeoutMs ?? HUB_LIMITS.lockTimeoutMs;
  const started = Date.now();
  let noticed = false;
  for (;;) {
    wait.signal?.throwIfAborted();
    if (createExclusive(lockPath, mine, folder)) return holdLock(lockPath, mine);
    const held = readLock(lockPath);
    if (held && lockIsStale(held)) {
      if (takeOverStaleLock(lockPath, held, mine)) return holdLock(lockPath, mine);
    } else if (held && !noticed) {
      noticed = true;
      notice(
        `Another process (pid ${held.owner?.pid ?? "?"} on ${held.owner?.host ?? "?"}) is downloading into ` +
          `${folder}; waiting for it to finish.`,
      );
    }
    if (Date.now() - started >= timeoutMs) throw lockTimeoutError(lockPath, held, timeoutMs);
    await sleep(HUB_LIMITS.lockPollMs, wait.signal);
  }
}

/** Creates `file` with `text` unless it exists; false when it does. */
function createExclusive(file: string, text: string, folder: string): boolean {
  try {
    fs.writeFileSync(file, text, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw fileSystemError(err, folder, 0);
  }
}

function holdLock(lockPath: string, mine: string): () => void {
  const heartbeat = setInterval(() => {
    // A lock taken over while this process stalled is the new owner's: not refreshed from here.
    if (readLock(lockPath)?.text !== mine) return clearInterval(heartbeat);
    const now = new Date();
    fs.utimes(lockPath, now, now, () => undefined);
  }, HUB_LIMITS.lockHeartbeatMs);
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    // Removed only if still ours, under its marker: a process taking it over holds the marker instead.
    withMarker(lockPath, mine, () => {
      if (readLock(lockPath)?.text === mine) fs.rmSync(lockPath, { force: true });
    });
  };
}

function readLock(lockPath: string): HeldLock | null {
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

function lockIsStale(held: HeldLock): boolean {
  if (Date.now() - held.mtimeMs > HUB_LIMITS.staleLockMs) return true;
  const owner = held.owner;
  // A fresh lock: its pid decides only when it names a process of this very pid namespace on this host.
  return (
    !!owner &&
    owner.host === HOST &&
    PID_NAMESPACE !== null &&
    owner.pidNamespace === PID_NAMESPACE &&
    owner.pid !== process.pid &&
    !processAlive(owner.pid)
  );
}

/**
 * Replaces the stale lock `held` by this process's own, if no other process got there first; true when this
 * process now holds the lock.
 */
function takeOverStaleLock(lockPath: string, held: HeldLock, mine: string): boolean {
  return (
    withMarker(lockPath, held.text, () => {
      const now = readLock(lockPath);
      if (!now || now.text !== held.text || !lockIsStale(now)) return false;
      const temp = `${lockPath}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
      fs.writeFileSync(temp, mine);
      fs.renameSync(temp, lockPath);
      return true;
    }) ?? false
  );
}

/**
 * Runs `change` while holding the marker of the lock content `text`; undefined when another process holds it.
 * A marker left by a process that died mid-change (they last milliseconds) is removed once it is a minute old.
 */
function withMarker<T>(lockPath: string, text: string, change: () => T): T | undefined {
  const marker = `${lockPath}.${crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)}.change`;
  try {
    fs.writeFileSync(marker, String(process.pid), { flag: "wx" });
  } catch {
    try {
      if (Date.now() - fs.statSync(marker).mtimeMs > HUB_LIMITS.staleMarkerMs) fs.rmSync(marker, { force: true });
    } catch {
      // Gone already.
    }
    return undefined;
  }
  try {
    return change();
  } finally {
    fs.rmSync(marker, { force: true });
  }
}

function lockTimeoutError(lockPath: string, held: HeldLock | null, timeoutMs: number): HubError {
  const who = held?.owner
    ? `pid ${held.owner.pid} on ${held.owner.host}, since ${held.owner.since}`
    : "a process that left no readable owner";
  return new HubError(
    "LOCK_TIMEOUT",
    `Waited ${formatDuration(timeoutMs)} for another process (${who}) to finish downloading; it still holds ` +
      `${lockPath}. If that process is still running (another notebook or terminal), let it finish and load ` +
      `again, or pass a larger lockTimeoutMs. If it is not (it ran in another container or on a machine that is ` +
      `down), delete that file and load again.`,
  );
}

function formatDuration(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
