/**
 * hub/transfer: one file's transfer against a server that misbehaves: bodies longer than listed, bodies that
 * trickle, a 206 or a 416 that does not answer what was asked, and a progress function that throws. Each ends
 * in a HubError with its own code and message, and nothing unverified is kept.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { HubError, PARTIAL_DIR, resolveModelFolder } from "../../src/hub/index";
import { HUB_LIMITS } from "../../src/hub/limits";
import { REPO, rejectsWith, useHubFixture } from "../support/hub-fixture";

/** `promise`, or a failure once `ms` have passed (the old code's endless transfers would otherwise hang the suite). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("hub/transfer: a file against a misbehaving server", function () {
  this.timeout(60000);
  const f = useHubFixture();

  function partials(): string[] {
    const dir = path.join(f.folderOf(), PARTIAL_DIR);
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  }

  it("stops reading as soon as a body runs past the listed size (a body that never ends)", async function () {
    f.server.addFault({ kind: "endless", file: "config.json" });
    const size = f.server.fileContent(REPO, "config.json").length;
    const outcome = resolveModelFolder(REPO, f.opts());
    outcome.catch(() => undefined);
    await rejectsWith(within(outcome, 10_000, "the endless download"), "INTEGRITY", "config.json", `more than the ${size} bytes`);
    // The server is held back by the socket buffers once the client stops reading: a few MiB at most.
    assert.ok(f.server.endlessBytes < 32 * 2 ** 20, `${f.server.endlessBytes} bytes were sent`);
    assert.deepEqual(partials(), [], "no partial file kept");
    assert.ok(!fs.existsSync(path.join(f.folderOf(), "config.json")));
    assert.equal(f.server.contentRequests("config.json").length, 1, "not retried: the server broke the listing's promise");
  });

  it("refuses a Content-Length other than the listed size before reading the body", async function () {
    f.server.addFault({ kind: "contentLength", file: "config.json", length: 10 * 2 ** 30 });
    const size = f.server.fileContent(REPO, "config.json").length;
    const outcome = resolveModelFolder(REPO, f.opts());
    outcome.catch(() => undefined);
    await rejectsWith(within(outcome, 10_000, "the download"), "INTEGRITY", "config.json", "Content-Length", String(size));
  });

  it("gives up on a body that trickles in, at a deadline that scales with the file's size", async function () {
    Object.assign(HUB_LIMITS, { fileDeadlineBaseMs: 300, minBytesPerSecond: 1e6, retryBaseMs: 1 });
    f.server.addFault({ kind: "trickle", file: "config.json", intervalMs: 50 });
    const outcome = resolveModelFolder(REPO, f.opts());
    outcome.catch(() => undefined);
    await rejectsWith(within(outcome, 8_000, "the trickling download"), "NETWORK", "config.json", "deadline", "resumes");
  });

  it("stops a transfer when the caller's AbortSignal fires, with its reason, keeping the bytes for a resume", async function () {
    f.server.addFault({ kind: "trickle", file: "config.json", intervalMs: 5 });
    const controller = new AbortController();
    const reason = new Error("cancelled by the caller");
    setTimeout(() => controller.abort(reason), 300);
    await assert.rejects(within(resolveModelFolder(REPO, f.opts({ signal: controller.signal })), 5000, "the transfer"), (err) => err === reason);
    assert.equal(f.server.contentRequests("config.json").length, 1, "not retried");
    const kept = partials().map((p) => fs.statSync(path.join(f.folderOf(), PARTIAL_DIR, p)).size);
    assert.equal(kept.length, 1);
    assert.ok(kept[0] > 0 && kept[0] < f.server.fileContent(REPO, "config.json").length, `${kept[0]} bytes kept`);
  });

  it("reports a 206 for other bytes than asked as an HTTP error, not a file-system one", async function () {
    HUB_LIMITS.retryBaseMs = 1;
    f.server.addFault({ kind: "wrongRange", file: "config.json", start: 5 });
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "config.json", "bytes 5-", "from byte 0");
  });

  it("reports a 416 before any partial file as an HTTP error, not a file-system one", async function () {
    HUB_LIMITS.retryBaseMs = 1;
    f.server.addFault({ kind: "status", file: "config.json", status: 416, times: Infinity });
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "config.json", "416");
  });

  it("passes on an exception from the progress function at once, without retrying it as a network error", async function () {
    const mistake = new Error("the progress function's own bug");
    // A slow body, so that the progress function is called while the bytes arrive (it is called every 100 ms).
    const file = ["generation_config.json", "preprocessor_config.json", "config.json"]
      .sort((a, b) => f.server.fileContent(REPO, a).length - f.server.fileContent(REPO, b).length)[0];
    f.server.addFault({ kind: "trickle", file, intervalMs: 2 });
    let thrown = 0;
    const progress = (s: { file: { path: string; bytes: number } | null }) => {
      if (s.file?.path === file && s.file.bytes > 0 && thrown++ === 0) throw mistake;
    };
    const err = await rejectsWith(resolveModelFolder(REPO, f.opts({ progress })), "INVALID_INPUT", "progress function", mistake.message);
    assert.equal((err as HubError & { cause?: unknown }).cause, mistake);
    assert.equal(f.server.contentRequests(file).length, 1, "one request: nothing was retried");
    assert.ok(!fs.existsSync(path.join(f.folderOf(), file)));
  });
});
