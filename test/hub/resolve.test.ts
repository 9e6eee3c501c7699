/**
 * resolveModelFolder end to end against a real HTTP server on 127.0.0.1 in the Hub's URL layout
 * (test/support/hub-server.ts) serving a generated stand-in model, pointed at through HF_ENDPOINT: download,
 * cache, resume, verification, errors, offline use and two processes at once. Nothing here touches another host.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { LOCK_FILE, MANIFEST_FILE, PARTIAL_DIR, resolveModelFolder } from "../../src/hub/index";
import { Florence2 } from "../../src/florence2";
import type { ProgressSnapshot } from "../../src/hub/download-progress";
import { HubTestServer } from "../support/hub-server";
import {
  PRIVATE_REPO,
  REPO,
  TOKEN,
  childScript,
  expectedFiles,
  rejectsWith,
  startChild,
  useHubFixture,
  waitFor,
} from "../support/hub-fixture";

describe("hub/resolve: models from a Hub server on 127.0.0.1", function () {
  this.timeout(60000);
  const f = useHubFixture();

  it("downloads the files a dtype needs, verified, into <cacheDir>/<org>/<name>/<revision>", async function () {
    const folder = await resolveModelFolder(REPO, f.opts());
    assert.equal(folder, path.join(f.cacheDir, "onnx-community", "Florence-2-base-ft", "main"));
    const expected = expectedFiles(f.source);
    assert.ok(expected.some((p) => p.endsWith("_data")), "the stand-in should have external-data files");
    f.assertSameBytes(folder, expected);
    assert.deepEqual(fs.readdirSync(path.join(folder, "onnx")).sort(), expected.filter((p) => p.startsWith("onnx/")).map((p) => p.slice(5)).sort());
    assert.ok(!fs.existsSync(path.join(folder, PARTIAL_DIR)), "no partial files are left");
    assert.ok(!fs.existsSync(path.join(folder, LOCK_FILE)), "the lock is released");
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST_FILE), "utf8"));
    assert.equal(manifest.commit, f.server.commitOf(REPO));
    // Large files came the Hub's way: a 302 from /resolve to the CDN path; the tree listing was paginated.
    assert.ok(f.server.requests.some((r) => r.kind === "resolve" && r.status === 302));
    assert.ok(f.server.requests.some((r) => r.kind === "cdn" && r.status === 200));
    assert.ok(f.server.requests.filter((r) => r.path.includes("/tree/")).length > 1, "listing spans several pages");
  });

  it("uses a complete cache without contacting the Hub, and fetches only what another dtype adds", async function () {
    await resolveModelFolder(REPO, f.opts());
    const before = f.server.requests.length;
    await resolveModelFolder(REPO, f.opts());
    assert.equal(f.server.requests.length, before, "a complete cache needs no request");
    await resolveModelFolder(REPO, f.opts({ dtype: "q8" }));
    const fetched = f.server.requests.slice(before).filter((r) => r.file && r.status < 300).map((r) => r.file as string);
    assert.deepEqual([...new Set(fetched)].sort(), expectedFiles(f.source, "q8").filter((p) => p.includes("_quantized")).sort());
  });

  it("reports bytes, speed and ETA per file and overall through a progress function", async function () {
    const snapshots: ProgressSnapshot[] = [];
    await resolveModelFolder(REPO, f.opts({ progress: (s) => snapshots.push(structuredClone(s)) }));
    const total = expectedFiles(f.source).reduce((sum, file) => sum + fs.statSync(path.join(f.source, file)).size, 0);
    const last = snapshots[snapshots.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.overall.total, total);
    assert.equal(last.overall.bytes, total);
    assert.equal(last.overall.filesDone, expectedFiles(f.source).length);
    const withFile = snapshots.filter((s) => s.file !== null);
    assert.ok(withFile.length >= expectedFiles(f.source).length, "a snapshot for each file");
    for (const s of snapshots) {
      assert.ok(s.overall.bytes <= s.overall.total && s.overall.bytesPerSecond >= 0);
      if (s.file) assert.ok(s.file.bytes <= s.file.total && expectedFiles(f.source).includes(s.file.path));
    }
  });

  it("resumes with a Range request after the server cuts the connection mid-file", async function () {
    const file = "onnx/decoder_model_merged.onnx_data";
    f.server.addFault({ kind: "cut", file, afterBytes: 100_000 });
    const folder = await resolveModelFolder(REPO, f.opts());
    const requests = f.server.contentRequests(file);
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.equal(requests[0].range, undefined);
    assert.equal(requests[0].bytes, 100_000);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1].range ?? "")?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${requests[1].range}`);
    assert.equal(requests[1].status, 206);
    f.assertSameBytes(folder, [file]);
  });

  it("refuses a file whose sha256 does not match, keeps nothing of it, and downloads it again next time", async function () {
    const file = "onnx/vision_encoder.onnx_data";
    assert.ok(f.server.isLfs(REPO, file));
    f.server.addFault({ kind: "corrupt", file, atByte: 1234 });
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "INTEGRITY", file, "sha256", "not kept");
    const folder = f.folderOf();
    assert.ok(!fs.existsSync(path.join(folder, file)), "the corrupt file is not in the cache");
    const partials = fs.existsSync(path.join(folder, PARTIAL_DIR)) ? fs.readdirSync(path.join(folder, PARTIAL_DIR)) : [];
    assert.deepEqual(partials, [], "no partial bytes kept");
    process.env.HF_HUB_OFFLINE = "1";
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "OFFLINE_INCOMPLETE", file);
    delete process.env.HF_HUB_OFFLINE;
    f.server.clearFaults();
    f.assertSameBytes(await resolveModelFolder(REPO, f.opts()), [file]);
  });

  it("checks small files by their git blob id", async function () {
    assert.ok(!f.server.isLfs(REPO, "config.json"));
    f.server.addFault({ kind: "corrupt", file: "config.json", atByte: 10 });
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "INTEGRITY", "config.json", "git blob id");
    assert.ok(!fs.existsSync(path.join(f.folderOf(), "config.json")));
  });

  it("retries a 503 from the CDN and then succeeds", async function () {
    f.server.addFault({ kind: "status", file: "onnx/embed_tokens.onnx_data", status: 503, times: 2 });
    f.assertSameBytes(await resolveModelFolder(REPO, f.opts()), ["onnx/embed_tokens.onnx_data"]);
  });

  it("names the repo, the revision or the file that does not exist (404)", async function () {
    process.env.HF_TOKEN = TOKEN;
    await rejectsWith(resolveModelFolder("onnx-community/No-Such-Model", f.opts()), "NOT_FOUND", 'No model "onnx-community/No-Such-Model"');
    await rejectsWith(resolveModelFolder(REPO, f.opts({ revision: "v9" })), "NOT_FOUND", 'Revision "v9"', REPO);
    await rejectsWith(resolveModelFolder(REPO, f.opts({ dtype: "q4" })), "NOT_FOUND", "onnx/vision_encoder_q4.onnx", "Choose another dtype");
    assert.deepEqual(fs.readdirSync(f.cacheDir), [], "failed lookups leave no folders");
  });

  it("gives token advice on 401 and sends HF_TOKEN as a Bearer token", async function () {
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, f.opts()), "UNAUTHORIZED", "HTTP 401", "HF_TOKEN", PRIVATE_REPO);
    process.env.HF_TOKEN = "hf_wrong";
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, f.opts()), "UNAUTHORIZED", "refused the token", "Invalid credentials");
    process.env.HF_TOKEN = "bad token";
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, f.opts()), "INVALID_INPUT", "(HF_TOKEN)", "not one word of printable ASCII");
    process.env.HF_TOKEN = TOKEN;
    const start = f.server.requests.length;
    const folder = await resolveModelFolder(PRIVATE_REPO, f.opts());
    f.assertSameBytes(folder, expectedFiles(f.source));
    for (const r of f.server.requests.slice(start).filter((r) => r.kind !== "cdn")) assert.equal(r.authorization, `Bearer ${TOKEN}`, r.path);
  });

  it("loads offline (HF_HUB_OFFLINE=1) from a complete cache without any request", async function () {
    const folder = await resolveModelFolder(REPO, f.opts());
    const empty = await HubTestServer.start({});
    process.env.HF_ENDPOINT = empty.url;
    process.env.HF_HUB_OFFLINE = "1";
    try {
      assert.equal(await resolveModelFolder(REPO, f.opts()), folder);
      assert.equal(empty.requests.length, 0);
    } finally {
      await empty.close();
    }
  });

  it("refuses an incomplete cache offline, naming the missing and damaged files", async function () {
    const folder = await resolveModelFolder(REPO, f.opts());
    fs.rmSync(path.join(folder, "onnx/encoder_model.onnx"));
    fs.truncateSync(path.join(folder, "onnx/embed_tokens.onnx_data"), 100);
    process.env.HF_HUB_OFFLINE = "true";
    const err = await rejectsWith(resolveModelFolder(REPO, f.opts()), "OFFLINE_INCOMPLETE", "HF_HUB_OFFLINE", folder, "onnx/encoder_model.onnx", "onnx/embed_tokens.onnx_data (100 bytes");
    assert.ok(!err.message.includes("vision_encoder"), "complete files are not listed");
    await rejectsWith(resolveModelFolder(REPO, f.opts({ dtype: "q8" })), "OFFLINE_INCOMPLETE", "onnx/decoder_model_merged_quantized.onnx");
    await rejectsWith(resolveModelFolder("onnx-community/Florence-2-large-ft", f.opts()), "OFFLINE_INCOMPLETE", "nothing is cached");
    const before = f.server.requests.length;
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "OFFLINE_INCOMPLETE");
    assert.equal(f.server.requests.length, before, "offline means no request");
  });

  it("names the unreachable host and how to work offline", async function () {
    const gone = await HubTestServer.start({});
    const url = gone.url;
    await gone.close();
    process.env.HF_ENDPOINT = url;
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "NETWORK", `Could not reach ${new URL(url).host}`, "ECONNREFUSED", "HF_HUB_OFFLINE=1", "model folder");
  });

  it("stops before writing when the disk has too little space, naming the folder and the bytes needed", async function () {
    const statfs = fs.promises.statfs;
    (fs.promises as { statfs: unknown }).statfs = async () => ({ bavail: 10, bsize: 4096 });
    try {
      await rejectsWith(resolveModelFolder(REPO, f.opts()), "DISK_FULL", f.folderOf(), "needs", "MB more", "41.0 kB is free");
    } finally {
      (fs.promises as { statfs: unknown }).statfs = statfs;
    }
    assert.ok(!fs.existsSync(path.join(f.folderOf(), "onnx")), "nothing was downloaded");
  });

  it("rejects bad input without creating anything in the cache", async function () {
    await rejectsWith(resolveModelFolder("./no/such/folder", f.opts()), "INVALID_INPUT", "does not exist");
    await rejectsWith(resolveModelFolder("not a model id", f.opts()), "INVALID_INPUT", "org/name");
    await rejectsWith(resolveModelFolder("", f.opts()), "INVALID_INPUT", "Hub model id");
    await rejectsWith(resolveModelFolder(REPO, f.opts({ revision: "../../etc" })), "INVALID_INPUT", "revision");
    await assert.rejects(resolveModelFolder(REPO, f.opts({ dtype: "q9" as never })), /Unsupported dtype "q9"/);
    process.env.HF_ENDPOINT = "ftp://example";
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "INVALID_INPUT", "HF_ENDPOINT");
    assert.deepEqual(fs.readdirSync(f.cacheDir), []);
    assert.equal(f.server.requests.length, 0);
  });

  it("gives Florence2.load a downloaded folder it loads (Florence2.load passes its options to resolveModelFolder)", async function () {
    const model = await Florence2.load(REPO, { cacheDir: f.cacheDir, progress: false, dtype: "q8" });
    try {
      assert.equal(model.folder, f.folderOf());
      assert.deepEqual(Object.values(model.dtypes), ["q8", "q8", "q8", "q8"]);
      f.assertSameBytes(model.folder, expectedFiles(f.source, "q8"));
    } finally {
      await model.dispose();
    }
  });

  it("returns an existing local folder as it is", async function () {
    assert.equal(await resolveModelFolder(f.source, f.opts()), f.source);
    assert.equal(f.server.requests.length, 0);
  });

  it("lets two processes load the same model at once: one downloads, the other waits, both get verified files", async function () {
    const script = childScript(f.tmp);
    const env = { CHILD_REPO: REPO, CHILD_CACHE: f.cacheDir, HF_ENDPOINT: f.server.url };
    const [a, b] = [startChild(script, env), startChild(script, env)];
    const results = await Promise.all([a.done, b.done]);
    for (const r of results) {
      assert.equal(r.code, 0, r.out);
      assert.equal(JSON.parse(r.out.trim().split("\n").pop() as string).folder, f.folderOf());
    }
    f.assertSameBytes(f.folderOf(), expectedFiles(f.source));
    for (const file of expectedFiles(f.source)) {
      const served = f.server.contentRequests(file).reduce((sum, r) => sum + r.bytes, 0);
      assert.equal(served, fs.statSync(path.join(f.source, file)).size, `${file} was downloaded once`);
    }
  });

  it("never uses the bytes of a killed download as complete, and resumes them next time", async function () {
    const file = "onnx/decoder_model_merged.onnx_data";
    f.server.addFault({ kind: "stall", file, afterBytes: 200_000 });
    const { child, done } = startChild(childScript(f.tmp), { CHILD_REPO: REPO, CHILD_CACHE: f.cacheDir, HF_ENDPOINT: f.server.url });
    await f.server.waitForStall();
    const partialDir = path.join(f.folderOf(), PARTIAL_DIR);
    const partialSize = () =>
      fs.existsSync(partialDir) ? fs.readdirSync(partialDir).reduce((m, n) => Math.max(m, fs.statSync(path.join(partialDir, n)).size), 0) : 0;
    await waitFor(() => partialSize() === 200_000, "the child to write the bytes it received");
    child.kill("SIGKILL");
    assert.equal((await done).signal, "SIGKILL");
    assert.ok(!fs.existsSync(path.join(f.folderOf(), file)), "no final file from a killed download");
    assert.ok(fs.existsSync(path.join(f.folderOf(), LOCK_FILE)), "the killed process left its lock behind");
    process.env.HF_HUB_OFFLINE = "1";
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "OFFLINE_INCOMPLETE", file);
    delete process.env.HF_HUB_OFFLINE;
    f.server.clearFaults();
    const start = f.server.requests.length;
    const folder = await resolveModelFolder(REPO, f.opts());
    const resumed = f.server.requests.slice(start).filter((r) => r.file === file && r.status < 300);
    assert.deepEqual(resumed.map((r) => r.range), ["bytes=200000-"]);
    f.assertSameBytes(folder, expectedFiles(f.source));
    assert.ok(!fs.existsSync(path.join(folder, LOCK_FILE)) && !fs.existsSync(partialDir));
  });
});
