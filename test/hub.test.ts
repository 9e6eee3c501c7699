/**
 * resolveModelFolder against a real HTTP server on 127.0.0.1 in the Hub's URL layout (test/support/hub-server.ts),
 * serving a generated stand-in model, pointed at through HF_ENDPOINT. Nothing here touches another host.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  HubError,
  LOCK_FILE,
  MANIFEST_FILE,
  PARTIAL_DIR,
  modelCacheFolder,
  requiredFiles,
  resolveModelFolder,
  type ResolveOptions,
} from "../src/hub";
import { Florence2 } from "../src/florence2";
import type { ProgressSnapshot } from "../src/progress";
import { writeStandInModel } from "./support/standin";
import { HubTestServer } from "./support/hub-server";

const REPO = "onnx-community/Florence-2-base-ft";
const PRIVATE_REPO = "someone/private-florence";
const TOKEN = "hf_testtoken";
const ROOT = path.resolve(__dirname, "..");
const HUB_ENV = ["HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "FLORENCE2_CACHE"] as const;

/** The files a fp32 download must bring: the required ones plus the external data the stand-in has. */
function expectedFiles(source: string, dtype: "fp32" | "q8" = "fp32"): string[] {
  const wanted = requiredFiles(dtype);
  return [...wanted, ...wanted.filter((f) => f.endsWith(".onnx") && fs.existsSync(path.join(source, `${f}_data`))).map((f) => `${f}_data`)];
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<HubError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HubError, `expected a HubError, got ${(err as Error)?.stack ?? err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" missing from: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ${code} HubError, but the call succeeded`);
}

/** Runs `resolveModelFolder` in a separate Node process (tsx), reporting `{ ok, folder | code, message }`. */
function childScript(dir: string): string {
  const file = path.join(dir, "resolve-child.ts");
  fs.writeFileSync(
    file,
    `const hub = require(${JSON.stringify(path.join(ROOT, "src", "hub.ts"))});
hub.resolveModelFolder(process.env.CHILD_REPO, { cacheDir: process.env.CHILD_CACHE, progress: false }).then(
  (folder: string) => console.log(JSON.stringify({ ok: true, folder })),
  (err: { code?: string; message: string }) => { console.log(JSON.stringify({ ok: false, code: err.code, message: err.message })); process.exitCode = 1; },
);
`,
  );
  return file;
}

function startChild(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, out })),
  );
  return { child, done };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("hub: models from a Hub server on 127.0.0.1", function () {
  this.timeout(60000);
  let tmp: string;
  let source: string;
  let server: HubTestServer;
  let cacheDir: string;
  let savedEnv: Record<string, string | undefined>;
  const opts = (extra: ResolveOptions = {}): ResolveOptions => ({ cacheDir, progress: false, ...extra });
  const folderOf = (repo = REPO) => modelCacheFolder(repo, { cacheDir });

  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-hub-"));
    source = path.join(tmp, "source");
    await writeStandInModel(source, { dtypes: ["fp32", "q8"] });
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  beforeEach(async function () {
    savedEnv = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
    for (const k of HUB_ENV) delete process.env[k];
    server = await HubTestServer.start(
      { [REPO]: { folder: source }, [PRIVATE_REPO]: { folder: source, private: true } },
      { token: TOKEN, pageSize: 7 },
    );
    process.env.HF_ENDPOINT = server.url;
    cacheDir = fs.mkdtempSync(path.join(tmp, "cache-"));
  });

  afterEach(async function () {
    await server.close();
    for (const k of HUB_ENV) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });

  function assertSameBytes(folder: string, files: readonly string[]): void {
    for (const f of files) {
      assert.ok(fs.readFileSync(path.join(folder, f)).equals(fs.readFileSync(path.join(source, f))), `${f} differs from the served file`);
    }
  }

  it("downloads the files a dtype needs, verified, into <cacheDir>/<org>/<name>/<revision>", async function () {
    const folder = await resolveModelFolder(REPO, opts());
    assert.equal(folder, path.join(cacheDir, "onnx-community", "Florence-2-base-ft", "main"));
    const expected = expectedFiles(source);
    assert.ok(expected.some((f) => f.endsWith("_data")), "the stand-in should have external-data files");
    assertSameBytes(folder, expected);
    assert.deepEqual(fs.readdirSync(path.join(folder, "onnx")).sort(), expected.filter((f) => f.startsWith("onnx/")).map((f) => f.slice(5)).sort());
    assert.ok(!fs.existsSync(path.join(folder, PARTIAL_DIR)), "no partial files are left");
    assert.ok(!fs.existsSync(path.join(folder, LOCK_FILE)), "the lock is released");
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST_FILE), "utf8"));
    assert.equal(manifest.commit, server.commitOf(REPO));
    // Large files came the Hub's way: a 302 from /resolve to the CDN path; the tree listing was paginated.
    assert.ok(server.requests.some((r) => r.kind === "resolve" && r.status === 302));
    assert.ok(server.requests.some((r) => r.kind === "cdn" && r.status === 200));
    assert.ok(server.requests.filter((r) => r.path.includes("/tree/")).length > 1, "listing spans several pages");
  });

  it("uses a complete cache without contacting the Hub, and fetches only what another dtype adds", async function () {
    await resolveModelFolder(REPO, opts());
    const before = server.requests.length;
    await resolveModelFolder(REPO, opts());
    assert.equal(server.requests.length, before, "a complete cache needs no request");
    await resolveModelFolder(REPO, opts({ dtype: "q8" }));
    const fetched = server.requests.slice(before).filter((r) => r.file && r.status < 300).map((r) => r.file as string);
    assert.deepEqual([...new Set(fetched)].sort(), expectedFiles(source, "q8").filter((f) => f.includes("_quantized")).sort());
  });

  it("reports bytes, speed and ETA per file and overall through a progress function", async function () {
    const snapshots: ProgressSnapshot[] = [];
    await resolveModelFolder(REPO, opts({ progress: (s) => snapshots.push(structuredClone(s)) }));
    const total = expectedFiles(source).reduce((sum, f) => sum + fs.statSync(path.join(source, f)).size, 0);
    const last = snapshots[snapshots.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.overall.total, total);
    assert.equal(last.overall.bytes, total);
    assert.equal(last.overall.filesDone, expectedFiles(source).length);
    const withFile = snapshots.filter((s) => s.file !== null);
    assert.ok(withFile.length >= expectedFiles(source).length, "a snapshot for each file");
    for (const s of snapshots) {
      assert.ok(s.overall.bytes <= s.overall.total && s.overall.bytesPerSecond >= 0);
      if (s.file) assert.ok(s.file.bytes <= s.file.total && expectedFiles(source).includes(s.file.path));
    }
  });

  it("resumes with a Range request after the server cuts the connection mid-file", async function () {
    const file = "onnx/decoder_model_merged.onnx_data";
    server.addFault({ kind: "cut", file, afterBytes: 100_000 });
    const folder = await resolveModelFolder(REPO, opts());
    const requests = server.contentRequests(file);
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.equal(requests[0].range, undefined);
    assert.equal(requests[0].bytes, 100_000);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1].range ?? "")?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${requests[1].range}`);
    assert.equal(requests[1].status, 206);
    assertSameBytes(folder, [file]);
  });

  it("refuses a file whose sha256 does not match, keeps nothing of it, and downloads it again next time", async function () {
    const file = "onnx/vision_encoder.onnx_data";
    assert.ok(server.isLfs(REPO, file));
    server.addFault({ kind: "corrupt", file, atByte: 1234 });
    await rejectsWith(resolveModelFolder(REPO, opts()), "INTEGRITY", file, "sha256", "not kept");
    const folder = folderOf();
    assert.ok(!fs.existsSync(path.join(folder, file)), "the corrupt file is not in the cache");
    const partials = fs.existsSync(path.join(folder, PARTIAL_DIR)) ? fs.readdirSync(path.join(folder, PARTIAL_DIR)) : [];
    assert.deepEqual(partials, [], "no partial bytes kept");
    process.env.HF_HUB_OFFLINE = "1";
    await rejectsWith(resolveModelFolder(REPO, opts()), "OFFLINE_INCOMPLETE", file);
    delete process.env.HF_HUB_OFFLINE;
    server.clearFaults();
    assertSameBytes(await resolveModelFolder(REPO, opts()), [file]);
  });

  it("checks small files by their git blob id", async function () {
    assert.ok(!server.isLfs(REPO, "config.json"));
    server.addFault({ kind: "corrupt", file: "config.json", atByte: 10 });
    await rejectsWith(resolveModelFolder(REPO, opts()), "INTEGRITY", "config.json", "git blob id");
    assert.ok(!fs.existsSync(path.join(folderOf(), "config.json")));
  });

  it("retries a 503 from the CDN and then succeeds", async function () {
    server.addFault({ kind: "status", file: "onnx/embed_tokens.onnx_data", status: 503, times: 2 });
    assertSameBytes(await resolveModelFolder(REPO, opts()), ["onnx/embed_tokens.onnx_data"]);
  });

  it("names the repo, the revision or the file that does not exist (404)", async function () {
    process.env.HF_TOKEN = TOKEN;
    await rejectsWith(resolveModelFolder("onnx-community/No-Such-Model", opts()), "NOT_FOUND", 'No model "onnx-community/No-Such-Model"');
    await rejectsWith(resolveModelFolder(REPO, opts({ revision: "v9" })), "NOT_FOUND", 'Revision "v9"', REPO);
    await rejectsWith(resolveModelFolder(REPO, opts({ dtype: "q4" })), "NOT_FOUND", "onnx/vision_encoder_q4.onnx", "Choose another dtype");
    assert.deepEqual(fs.readdirSync(cacheDir), [], "failed lookups leave no folders");
  });

  it("gives token advice on 401 and sends HF_TOKEN as a Bearer token", async function () {
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, opts()), "UNAUTHORIZED", "HTTP 401", "HF_TOKEN", PRIVATE_REPO);
    process.env.HF_TOKEN = "hf_wrong";
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, opts()), "UNAUTHORIZED", "refused the token", "Invalid credentials");
    process.env.HF_TOKEN = "not-a-token";
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, opts()), "INVALID_INPUT", "HF_TOKEN", "hf_");
    process.env.HF_TOKEN = TOKEN;
    const start = server.requests.length;
    const folder = await resolveModelFolder(PRIVATE_REPO, opts());
    assertSameBytes(folder, expectedFiles(source));
    for (const r of server.requests.slice(start).filter((r) => r.kind !== "cdn")) assert.equal(r.authorization, `Bearer ${TOKEN}`, r.path);
  });

  it("loads offline (HF_HUB_OFFLINE=1) from a complete cache without any request", async function () {
    const folder = await resolveModelFolder(REPO, opts());
    await server.close();
    server = await HubTestServer.start({});
    process.env.HF_HUB_OFFLINE = "1";
    assert.equal(await resolveModelFolder(REPO, opts()), folder);
    assert.equal(server.requests.length, 0);
  });

  it("refuses an incomplete cache offline, naming the missing and damaged files", async function () {
    const folder = await resolveModelFolder(REPO, opts());
    fs.rmSync(path.join(folder, "onnx/encoder_model.onnx"));
    fs.truncateSync(path.join(folder, "onnx/embed_tokens.onnx_data"), 100);
    process.env.HF_HUB_OFFLINE = "true";
    const err = await rejectsWith(resolveModelFolder(REPO, opts()), "OFFLINE_INCOMPLETE", "HF_HUB_OFFLINE", folder, "onnx/encoder_model.onnx", "onnx/embed_tokens.onnx_data (100 bytes");
    assert.ok(!err.message.includes("vision_encoder"), "complete files are not listed");
    await rejectsWith(resolveModelFolder(REPO, opts({ dtype: "q8" })), "OFFLINE_INCOMPLETE", "onnx/decoder_model_merged_quantized.onnx");
    await rejectsWith(resolveModelFolder("onnx-community/Florence-2-large-ft", opts()), "OFFLINE_INCOMPLETE", "nothing is cached");
    const before = server.requests.length;
    await rejectsWith(resolveModelFolder(REPO, opts()), "OFFLINE_INCOMPLETE");
    assert.equal(server.requests.length, before, "offline means no request");
  });

  it("names the unreachable host and how to work offline", async function () {
    const gone = await HubTestServer.start({});
    const url = gone.url;
    await gone.close();
    process.env.HF_ENDPOINT = url;
    await rejectsWith(resolveModelFolder(REPO, opts()), "NETWORK", `Could not reach ${new URL(url).host}`, "ECONNREFUSED", "HF_HUB_OFFLINE=1", "model folder");
  });

  it("stops before writing when the disk has too little space, naming the folder and the bytes needed", async function () {
    const statfs = fs.promises.statfs;
    (fs.promises as { statfs: unknown }).statfs = async () => ({ bavail: 10, bsize: 4096 });
    try {
      await rejectsWith(resolveModelFolder(REPO, opts()), "DISK_FULL", folderOf(), "needs", "MB more", "41.0 kB is free");
    } finally {
      (fs.promises as { statfs: unknown }).statfs = statfs;
    }
    assert.ok(!fs.existsSync(path.join(folderOf(), "onnx")), "nothing was downloaded");
  });

  it("rejects bad input without creating anything in the cache", async function () {
    await rejectsWith(resolveModelFolder("./no/such/folder", opts()), "INVALID_INPUT", "does not exist");
    await rejectsWith(resolveModelFolder("not a model id", opts()), "INVALID_INPUT", "org/name");
    await rejectsWith(resolveModelFolder("", opts()), "INVALID_INPUT", "Hub model id");
    await rejectsWith(resolveModelFolder(REPO, opts({ revision: "../../etc" })), "INVALID_INPUT", "revision");
    await assert.rejects(resolveModelFolder(REPO, opts({ dtype: "q9" as never })), /Unsupported dtype "q9"/);
    process.env.HF_ENDPOINT = "ftp://example";
    await rejectsWith(resolveModelFolder(REPO, opts()), "INVALID_INPUT", "HF_ENDPOINT");
    assert.deepEqual(fs.readdirSync(cacheDir), []);
    assert.equal(server.requests.length, 0);
  });

  it("gives Florence2.load a downloaded folder it loads (Florence2.load passes its options to resolveModelFolder)", async function () {
    const model = await Florence2.load(REPO, { cacheDir, progress: false, dtype: "q8" });
    try {
      assert.equal(model.folder, folderOf());
      assert.deepEqual(Object.values(model.dtypes), ["q8", "q8", "q8", "q8"]);
      assertSameBytes(model.folder, expectedFiles(source, "q8"));
    } finally {
      model.dispose();
    }
  });

  it("returns an existing local folder as it is", async function () {
    assert.equal(await resolveModelFolder(source, opts()), source);
    assert.equal(server.requests.length, 0);
  });

  it("lets two processes load the same model at once: one downloads, the other waits, both get verified files", async function () {
    const script = childScript(tmp);
    const env = { CHILD_REPO: REPO, CHILD_CACHE: cacheDir, HF_ENDPOINT: server.url };
    const [a, b] = [startChild(script, env), startChild(script, env)];
    const results = await Promise.all([a.done, b.done]);
    for (const r of results) {
      assert.equal(r.code, 0, r.out);
      assert.equal(JSON.parse(r.out.trim().split("\n").pop() as string).folder, folderOf());
    }
    assertSameBytes(folderOf(), expectedFiles(source));
    for (const f of expectedFiles(source)) {
      const served = server.contentRequests(f).reduce((sum, r) => sum + r.bytes, 0);
      assert.equal(served, fs.statSync(path.join(source, f)).size, `${f} was downloaded once`);
    }
  });

  it("never uses the bytes of a killed download as complete, and resumes them next time", async function () {
    const file = "onnx/decoder_model_merged.onnx_data";
    server.addFault({ kind: "stall", file, afterBytes: 200_000 });
    const { child, done } = startChild(childScript(tmp), { CHILD_REPO: REPO, CHILD_CACHE: cacheDir, HF_ENDPOINT: server.url });
    await server.waitForStall();
    const partialDir = path.join(folderOf(), PARTIAL_DIR);
    const partialSize = () =>
      fs.existsSync(partialDir) ? fs.readdirSync(partialDir).reduce((m, n) => Math.max(m, fs.statSync(path.join(partialDir, n)).size), 0) : 0;
    await waitFor(() => partialSize() === 200_000, "the child to write the bytes it received");
    child.kill("SIGKILL");
    assert.equal((await done).signal, "SIGKILL");
    assert.ok(!fs.existsSync(path.join(folderOf(), file)), "no final file from a killed download");
    assert.ok(fs.existsSync(path.join(folderOf(), LOCK_FILE)), "the killed process left its lock behind");
    process.env.HF_HUB_OFFLINE = "1";
    await rejectsWith(resolveModelFolder(REPO, opts()), "OFFLINE_INCOMPLETE", file);
    delete process.env.HF_HUB_OFFLINE;
    server.clearFaults();
    const start = server.requests.length;
    const folder = await resolveModelFolder(REPO, opts());
    const resumed = server.requests.slice(start).filter((r) => r.file === file && r.status < 300);
    assert.deepEqual(resumed.map((r) => r.range), ["bytes=200000-"]);
    assertSameBytes(folder, expectedFiles(source));
    assert.ok(!fs.existsSync(path.join(folder, LOCK_FILE)) && !fs.existsSync(partialDir));
  });
});
