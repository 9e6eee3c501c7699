/**
 * hub/lock: the folder lock that lets one process download while the others wait. The wait is bounded (a
 * timeout, an AbortSignal); a stale lock is taken over by exactly one of the processes that find it (three real
 * processes, many rounds); a fresh lock is not taken for stale because its pid is unknown here (a process in
 * another container that has the same host name).
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LOCK_FILE, resolveModelFolder } from "../../src/hub/index";
import { HUB_LIMITS } from "../../src/hub/limits";
import { REPO, ROOT, rejectsWith, useHubFixture } from "../support/hub-fixture";

/** A pid that was alive a moment ago and is not any more. */
function deadPid(): number {
  const run = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  return Number(run.stdout.trim());
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("hub/lock: waiting for another process's download", function () {
  this.timeout(60000);
  const f = useHubFixture();

  /** Writes a lock as another process would, fresh (mtime now) unless `ageMs` says otherwise. */
  function plantLock(owner: object, ageMs = 0): string {
    const folder = f.folderOf();
    fs.mkdirSync(folder, { recursive: true });
    const lock = path.join(folder, LOCK_FILE);
    fs.writeFileSync(lock, JSON.stringify(owner));
    const when = new Date(Date.now() - ageMs);
    fs.utimesSync(lock, when, when);
    return lock;
  }
  /** A live process on this host: the one that started mocha. */
  const liveOwner = () => ({ pid: process.ppid, host: os.hostname(), since: new Date().toISOString() });

  it("gives up after lockTimeoutMs with a message that says whose lock it is and what to do", async function () {
    const lock = plantLock(liveOwner());
    const outcome = resolveModelFolder(REPO, f.opts({ lockTimeoutMs: 300 } as object));
    outcome.catch(() => undefined);
    await rejectsWith(within(outcome, 5000, "the lock wait"), "LOCK_TIMEOUT", `pid ${process.ppid}`, lock, "lockTimeoutMs");
    assert.ok(fs.existsSync(lock), "the other process's lock is left alone");
    assert.equal(f.server.requests.length, 0);
  });

  it("stops waiting when the AbortSignal fires, with the signal's reason", async function () {
    plantLock(liveOwner());
    const controller = new AbortController();
    const reason = new Error("the user cancelled");
    setTimeout(() => controller.abort(reason), 200);
    const outcome = resolveModelFolder(REPO, f.opts({ signal: controller.signal } as object));
    outcome.catch(() => undefined);
    await assert.rejects(within(outcome, 5000, "the lock wait"), (err) => err === reason);
  });

  it("does not take a fresh lock for stale because its pid is not running here (another container, same host name)", async function () {
    // A pid namespace other than this process's: the pid means nothing here, only the lock's age does.
    plantLock({ pid: deadPid(), host: os.hostname(), pidNamespace: "pid:[1]", since: new Date().toISOString() });
    const outcome = resolveModelFolder(REPO, f.opts({ lockTimeoutMs: 500 } as object));
    outcome.catch(() => undefined);
    await rejectsWith(within(outcome, 5000, "the lock wait"), "LOCK_TIMEOUT");
    assert.equal(f.server.requests.length, 0, "nothing was downloaded beside the other process");
  });

  it("does take over such a lock once it is old (no heartbeat for staleLockMs)", async function () {
    HUB_LIMITS.staleLockMs = 1000;
    plantLock({ pid: deadPid(), host: os.hostname(), pidNamespace: "pid:[1]", since: new Date().toISOString() }, 5000);
    f.assertSameBytes(await resolveModelFolder(REPO, f.opts()), ["config.json"]);
  });

  it("takes over at once a fresh lock whose owner is dead in this pid namespace (a killed notebook)", async function () {
    const here = fs.existsSync("/proc/self/ns/pid") ? fs.readlinkSync("/proc/self/ns/pid") : null;
    if (here === null) this.skip();
    plantLock({ pid: deadPid(), host: os.hostname(), pidNamespace: here, since: new Date().toISOString() });
    const outcome = resolveModelFolder(REPO, f.opts({ lockTimeoutMs: 5000 } as object));
    f.assertSameBytes(await within(outcome, 4000, "the takeover"), ["config.json"]);
  });

  it("lets exactly one of three processes take over each stale lock (many rounds, no two holders)", async function () {
    const dir = fs.mkdtempSync(path.join(f.tmp, "lock-race-"));
    const log = path.join(dir, "holders.log");
    const script = path.join(f.tmp, "lock-child.ts");
    // Each round: take the lock, note it, hold it 3 ms while checking that the lock file stays ours, then "die":
    // replace the lock by a stale one (a dead owner on another machine, an hour old) and stop its heartbeat. The
    // other two find it stale and race for it. (The old takeover let about 1 in 100 rounds end with two holders
    // or a holder's lock moved away: hence many rounds.)
    fs.writeFileSync(
      script,
      `const fs = require("node:fs");
const path = require("node:path");
const { acquireLock, LOCK_FILE } = require(${JSON.stringify(path.join(ROOT, "src", "hub", "lock"))});
const { HUB_LIMITS } = require(${JSON.stringify(path.join(ROOT, "src", "hub", "limits"))});
HUB_LIMITS.lockPollMs = 1;
const [dir, log, rounds] = [process.env.LOCK_DIR, process.env.LOCK_LOG, Number(process.env.ROUNDS)];
const lockPath = path.join(dir, LOCK_FILE);
(async () => {
  let lost = 0;
  for (let round = 0; round < rounds; round++) {
    const release = await acquireLock(dir, () => undefined);
    const mine = fs.readFileSync(lockPath, "utf8");
    fs.appendFileSync(log, "enter " + process.pid + "\\n");
    for (const until = Date.now() + 3; Date.now() < until; ) {
      let now = null;
      try { now = fs.readFileSync(lockPath, "utf8"); } catch {}
      if (now !== mine) lost += 1;
    }
    fs.appendFileSync(log, "exit " + process.pid + "\\n");
    const temp = lockPath + "." + process.pid + ".tmp";
    fs.writeFileSync(temp, JSON.stringify({ pid: 999999, host: "another-machine", since: new Date(0).toISOString(), round, by: process.pid }));
    const old = new Date(Date.now() - 3600000);
    fs.utimesSync(temp, old, old);
    fs.renameSync(temp, lockPath);
    release();
  }
  console.log(JSON.stringify({ lost }));
})();
`,
    );
    const rounds = 150;
    const children = [0, 1, 2].map(() => {
      const child = spawn(process.execPath, ["--import", "tsx", script], {
        cwd: ROOT,
        env: { ...process.env, LOCK_DIR: dir, LOCK_LOG: log, ROUNDS: String(rounds) },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      return new Promise<{ code: number | null; out: string }>((resolve) => child.on("close", (code) => resolve({ code, out })));
    });
    const results = await within(Promise.all(children), 50_000, "the three processes");
    assert.deepEqual(results.map((r) => r.code), [0, 0, 0], results.map((r) => r.out).join("\n"));
    const lost = results.map((r) => JSON.parse(r.out.trim().split("\n").pop() as string).lost);
    assert.deepEqual(lost, [0, 0, 0], "times a holder found its lock file moved or replaced while it held it");
    const events = fs.readFileSync(log, "utf8").trim().split("\n");
    assert.equal(events.length, 3 * rounds * 2, "every round of every process held the lock once");
    const overlaps: string[] = [];
    let inside: string | null = null;
    for (const [i, event] of events.entries()) {
      const [what, pid] = event.split(" ");
      if (what === "enter") {
        if (inside !== null) overlaps.push(`line ${i + 1}: ${pid} entered while ${inside} held the lock`);
        inside = pid;
      } else if (inside === pid) inside = null;
    }
    assert.deepEqual(overlaps, [], "two processes held the lock at once");
  });
});
