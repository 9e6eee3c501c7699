/**
 * What the hub tests share: a stand-in model written once per test process and served by a HubTestServer on
 * 127.0.0.1 (pointed at through HF_ENDPOINT), a fresh cache folder per test, the Hub environment variables saved
 * and cleared around each test, and helpers to assert on HubErrors and to run resolveModelFolder in a child process.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HubError, modelCacheFolder, requiredFiles, type ResolveOptions } from "../../src/hub/index";
import { HUB_LIMITS } from "../../src/hub/limits";
import { HubTestServer, type HubServerOptions } from "./hub-server";
import { writeStandInModel } from "./standin";

export const REPO = "onnx-community/Florence-2-base-ft";
export const PRIVATE_REPO = "someone/private-florence";
export const TOKEN = "hf_testtoken";
export const ROOT = path.resolve(__dirname, "..", "..");
// The Hugging Face cache and token file locations too: a test must never read the user's own cache or token.
const HUB_ENV = [
  "HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "FLORENCE2_CACHE", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH", "XDG_CACHE_HOME",
] as const;

let sourceOnce: Promise<{ tmp: string; source: string }> | undefined;

/** One stand-in model (fp32 and q8) per test process: the hub test files share it. */
function standInSource(): Promise<{ tmp: string; source: string }> {
  sourceOnce ??= (async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-hub-"));
    const source = path.join(tmp, "source");
    await writeStandInModel(source, { dtypes: ["fp32", "q8"] });
    process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
    return { tmp, source };
  })();
  return sourceOnce;
}

export interface HubFixture {
  /** The stand-in's folder, served as REPO and PRIVATE_REPO. */
  readonly source: string;
  /** A folder for this test's own files (under the process's temp folder). */
  readonly tmp: string;
  readonly server: HubTestServer;
  readonly cacheDir: string;
  /** resolveModelFolder options: this test's cacheDir, no progress output. */
  opts(extra?: ResolveOptions): ResolveOptions;
  folderOf(repo?: string): string;
  /** Replaces the server (e.g. with one that has other options); the old one is closed. */
  restartServer(options?: HubServerOptions): Promise<HubTestServer>;
  assertSameBytes(folder: string, files: readonly string[]): void;
}

/**
 * Registers before/after hooks in the calling `describe` and returns the fixture they fill. Each test gets a
 * fresh server (REPO public, PRIVATE_REPO private, tree pages of 7 entries), HF_ENDPOINT set to it, and a fresh
 * cache folder; HUB_LIMITS are restored after each test.
 */
export function useHubFixture(serverOptions: HubServerOptions = {}): HubFixture {
  let savedEnv: Record<string, string | undefined> = {};
  const savedLimits = { ...HUB_LIMITS };
  const state = { source: "", tmp: "", cacheDir: "", server: undefined as unknown as HubTestServer };
  const start = (options: HubServerOptions) =>
    HubTestServer.start(
      { [REPO]: { folder: state.source }, [PRIVATE_REPO]: { folder: state.source, private: true } },
      { token: TOKEN, pageSize: 7, ...options },
    );
  const fixture: HubFixture = {
    get source() {
      return state.source;
    },
    get tmp() {
      return state.tmp;
    },
    get server() {
      return state.server;
    },
    get cacheDir() {
      return state.cacheDir;
    },
    opts: (extra = {}) => ({ cacheDir: state.cacheDir, progress: false, ...extra }),
    folderOf: (repo = REPO) => modelCacheFolder(repo, { cacheDir: state.cacheDir }),
    async restartServer(options = {}) {
      await state.server.close();
      state.server = await start({ ...serverOptions, ...options });
      process.env.HF_ENDPOINT = state.server.url;
      return state.server;
    },
    assertSameBytes(folder, files) {
      for (const f of files) {
        const same = fs.readFileSync(path.join(folder, f)).equals(fs.readFileSync(path.join(state.source, f)));
        assert.ok(same, `${f} differs from the served file`);
      }
    },
  };

  before(async function () {
    this.timeout(120_000);
    const { tmp, source } = await standInSource();
    state.source = source;
    state.tmp = fs.mkdtempSync(path.join(tmp, "test-"));
  });

  beforeEach(async function () {
    savedEnv = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
    for (const k of HUB_ENV) delete process.env[k];
    state.server = await start(serverOptions);
    process.env.HF_ENDPOINT = state.server.url;
    state.cacheDir = fs.mkdtempSync(path.join(state.tmp, "cache-"));
    process.env.HF_HOME = fs.mkdtempSync(path.join(state.tmp, "hf-home-"));
  });

  afterEach(async function () {
    await state.server.close();
    Object.assign(HUB_LIMITS, savedLimits);
    for (const k of HUB_ENV) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });

  return fixture;
}

/** The files a download must bring for a dtype: the required ones plus the external data the stand-in has. */
export function expectedFiles(source: string, dtype: "fp32" | "q8" = "fp32"): string[] {
  const wanted = requiredFiles(dtype);
  const data = wanted.filter((f) => f.endsWith(".onnx") && fs.existsSync(path.join(source, `${f}_data`)));
  return [...wanted, ...data.map((f) => `${f}_data`)];
}

/** Awaits `promise`, which must reject with a HubError of `code` whose message holds every fragment. */
export async function rejectsWith(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<HubError> {
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

/**
 * A script that runs `resolveModelFolder(CHILD_REPO, { cacheDir: CHILD_CACHE })` in a separate Node process (tsx)
 * and prints `{ ok, folder | code, message }`; CHILD_LIMITS (JSON) overrides HUB_LIMITS there.
 */
export function childScript(dir: string): string {
  const file = path.join(dir, "resolve-child.ts");
  fs.writeFileSync(
    file,
    `const hub = require(${JSON.stringify(path.join(ROOT, "src", "hub"))});
const { HUB_LIMITS } = require(${JSON.stringify(path.join(ROOT, "src", "hub", "limits"))});
Object.assign(HUB_LIMITS, JSON.parse(process.env.CHILD_LIMITS || "{}"));
hub.resolveModelFolder(process.env.CHILD_REPO, { cacheDir: process.env.CHILD_CACHE, progress: false }).then(
  (folder: string) => console.log(JSON.stringify({ ok: true, folder })),
  (err: { code?: string; message: string }) => { console.log(JSON.stringify({ ok: false, code: err.code, message: err.message })); process.exitCode = 1; },
);
`,
  );
  return file;
}

/** Starts a Node process running `script` with tsx; `done` resolves with its exit and everything it printed. */
export function startChild(script: string, env: Record<string, string>) {
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

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
