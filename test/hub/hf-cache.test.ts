/**
 * The Hugging Face conventions: a model already in the Hugging Face cache (a snapshot of symlinks into blobs named by
 * their hash, refs/<revision> holding the commit, as huggingface_hub and `hf download` leave it) is used in place
 * after checking every file against its blob name, found through HF_HUB_CACHE, HF_HOME or ~/.cache/huggingface;
 * a wrong blob is refused (and the cache left as it is); the token file under HF_HOME is read when HF_TOKEN is
 * unset, and a token of any form is sent; the project's own cache is models/ in a clone and the user's cache folder
 * when the package is a dependency. Fake caches are built in temp folders from the stand-in; downloads come from
 * the 127.0.0.1 Hub server.
 */
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveModelFolder } from "../../src/hub/index";
import { readModelConfig } from "../../src/runtime/config";
import { openSessions } from "../../src/runtime/sessions";
import { projectCacheDir, userCacheDir } from "../../src/hub/settings";
import { PRIVATE_REPO, REPO, expectedFiles, rejectsWith, useHubFixture } from "../support/hub-fixture";

const COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

/** A file's blob name as huggingface_hub gives it: sha256 for LFS files (the ONNX graphs here), else the git blob id. */
function blobName(file: string, content: Buffer): string {
  if (/\.onnx(_data)?$/.test(file)) return crypto.createHash("sha256").update(content).digest("hex");
  return crypto.createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

interface FakeCache {
  snapshot: string;
  repoFolder: string;
  /** Every file of the cache (links and blobs) with its bytes or link target, to check nothing changed. */
  state(): string;
}

/**
 * Writes `repo` into a Hugging Face cache at `hubCache` with `files` from `source`; `damage` puts other bytes in that
 * file's blob (under the right name), `copy` writes that file into the snapshot as a plain file instead of a link.
 */
function writeHfCache(hubCache: string, source: string, files: readonly string[], opts: { repo?: string; damage?: string; copy?: string } = {}): FakeCache {
  const repoFolder = path.join(hubCache, `models--${(opts.repo ?? REPO).replace("/", "--")}`);
  const snapshot = path.join(repoFolder, "snapshots", COMMIT);
  fs.mkdirSync(path.join(repoFolder, "blobs"), { recursive: true });
  fs.mkdirSync(path.join(repoFolder, "refs"), { recursive: true });
  fs.writeFileSync(path.join(repoFolder, "refs", "main"), COMMIT);
  for (const file of files) {
    const content = fs.readFileSync(path.join(source, file));
    const target = path.join(snapshot, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (file === opts.copy) {
      fs.writeFileSync(target, content);
      continue;
    }
    const blob = path.join(repoFolder, "blobs", blobName(file, content));
    const bytes = Buffer.from(content);
    if (file === opts.damage) bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(blob, bytes);
    fs.symlinkSync(path.relative(path.dirname(target), blob), target);
  }
  const state = () => {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.isSymbolicLink()) out.push(`${full} -> ${fs.readlinkSync(full)}`);
        else out.push(`${full} ${crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex")}`);
      }
    };
    walk(repoFolder);
    return out.join("\n");
  };
  return { snapshot, repoFolder, state };
}

describe("hub: the Hugging Face cache, HF_HOME and the token file", function () {
  this.timeout(120_000);
  const f = useHubFixture();
  let savedHome: string | undefined;
  beforeEach(() => {
    savedHome = process.env.HOME;
  });
  afterEach(() => {
    process.env.HOME = savedHome;
  });

  it("uses a complete snapshot in HF_HUB_CACHE in place: no request, nothing copied, each file checked", async function () {
    const hubCache = path.join(f.tmp, `hub-${Date.now()}`);
    const cache = writeHfCache(hubCache, f.source, expectedFiles(f.source));
    process.env.HF_HUB_CACHE = hubCache;
    const before = cache.state();
    const folder = await resolveModelFolder(REPO, f.opts());
    assert.equal(folder, cache.snapshot);
    assert.equal(f.server.requests.length, 0, "nothing was asked of the Hub");
    // The graphs open through the snapshot's links, external data included.
    const sessions = await openSessions(folder, readModelConfig(folder));
    await sessions.release();
    assert.deepEqual(fs.readdirSync(f.cacheDir), [], "nothing was copied into the project's cache");
    assert.equal(cache.state(), before);
  });

  it("finds the cache under HF_HOME/hub, else ~/.cache/huggingface/hub; HF_HUB_OFFLINE=1 accepts it", async function () {
    const home = path.join(f.tmp, `home-${Date.now()}`);
    const underHfHome = writeHfCache(path.join(process.env.HF_HOME as string, "hub"), f.source, expectedFiles(f.source));
    process.env.HF_HUB_OFFLINE = "1";
    assert.equal(await resolveModelFolder(REPO, f.opts()), underHfHome.snapshot);
    delete process.env.HF_HOME;
    process.env.HOME = home;
    const underHome = writeHfCache(path.join(home, ".cache", "huggingface", "hub"), f.source, expectedFiles(f.source));
    assert.equal(await resolveModelFolder(REPO, f.opts()), underHome.snapshot);
    assert.equal(f.server.requests.length, 0);
  });

  it("looks in the project's own cache first", async function () {
    const own = await resolveModelFolder(REPO, f.opts());
    const requests = f.server.requests.length;
    process.env.HF_HUB_CACHE = path.join(f.tmp, `hub-own-${Date.now()}`);
    writeHfCache(process.env.HF_HUB_CACHE, f.source, expectedFiles(f.source));
    assert.equal(await resolveModelFolder(REPO, f.opts()), own);
    assert.equal(f.server.requests.length, requests);
  });

  it("refuses a file whose bytes differ from its blob name, downloads into its own cache, and leaves the Hugging Face cache as it was", async function () {
    process.env.HF_HUB_CACHE = path.join(f.tmp, `hub-bad-${Date.now()}`);
    const cache = writeHfCache(process.env.HF_HUB_CACHE, f.source, expectedFiles(f.source), { damage: "onnx/decoder_model_merged.onnx" });
    const before = cache.state();
    const notices: string[] = [];
    const folder = await resolveModelFolder(REPO, f.opts({ progress: (s) => void (s.message && notices.push(s.message)) }));
    assert.equal(folder, f.folderOf());
    f.assertSameBytes(folder, expectedFiles(f.source));
    assert.equal(cache.state(), before, "the Hugging Face cache is unchanged");
    assert.ok(
      notices.some((n) => /onnx\/decoder_model_merged\.onnx: its sha256 is [0-9a-f]{64}, expected [0-9a-f]{64} \(its blob name\)\), so it is not used; downloading into/.test(n)),
      notices.join("\n"),
    );
  });

  it("offline, names what the Hugging Face cache lacks: a small file failing its git blob id, a plain copy, a dtype not there", async function () {
    process.env.HF_HUB_OFFLINE = "1";
    process.env.HF_HUB_CACHE = path.join(f.tmp, `hub-off-${Date.now()}`);
    writeHfCache(process.env.HF_HUB_CACHE, f.source, expectedFiles(f.source), { damage: "config.json", copy: "tokenizer.json" });
    const err = await rejectsWith(resolveModelFolder(REPO, f.opts()), "OFFLINE_INCOMPLETE", "the Hugging Face cache's copy in");
    assert.match(err.message, /config\.json: its git blob id is [0-9a-f]{40}, expected [0-9a-f]{40} \(its blob name\)/);
    assert.match(err.message, /tokenizer\.json: not a link to a blob named by its hash/);
    await rejectsWith(resolveModelFolder(REPO, f.opts({ dtype: "q8" })), "OFFLINE_INCOMPLETE", "onnx/vision_encoder_quantized.onnx missing");
    await rejectsWith(resolveModelFolder(REPO, f.opts({ revision: "v2" })), "OFFLINE_INCOMPLETE", "(no refs/v2 in models--onnx-community--Florence-2-base-ft)");
  });

  it("reads the token file under HF_HOME when HF_TOKEN is unset, and sends a token of any form to the endpoint", async function () {
    const token = "mirror-issued-token-42";
    await f.restartServer({ token });
    fs.writeFileSync(path.join(process.env.HF_HOME as string, "token"), `${token}\n`);
    const start = f.server.requests.length;
    f.assertSameBytes(await resolveModelFolder(PRIVATE_REPO, f.opts()), expectedFiles(f.source));
    const api = f.server.requests.slice(start).filter((r) => r.kind !== "cdn");
    assert.ok(api.length > 0);
    for (const r of api) assert.equal(r.authorization, `Bearer ${token}`, r.path);
    // HF_TOKEN comes first, and the message names where the refused token came from.
    process.env.HF_TOKEN = "another-token";
    await rejectsWith(resolveModelFolder(PRIVATE_REPO, f.opts({ revision: COMMIT })), "UNAUTHORIZED", "refused the token (HF_TOKEN)");
    delete process.env.HF_TOKEN;
    fs.writeFileSync(path.join(process.env.HF_HOME as string, "token"), "stale-token");
    const err = await rejectsWith(resolveModelFolder(PRIVATE_REPO, f.opts({ revision: COMMIT })), "UNAUTHORIZED");
    assert.ok(err.message.includes(`refused the token (the token file ${path.join(process.env.HF_HOME as string, "token")})`), err.message);
  });

  it("keeps downloads in models/ of a clone, and in the user's cache folder when loaded from node_modules", function () {
    const root = path.join(f.tmp, `layouts-${Date.now()}`);
    const clone = path.join(root, "clone");
    const dependency = path.join(root, "app", "node_modules", "florence2-ts");
    for (const dir of [clone, dependency]) {
      fs.mkdirSync(path.join(dir, "src", "hub"), { recursive: true });
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "florence2-ts" }));
    }
    fs.writeFileSync(path.join(root, "app", "package.json"), JSON.stringify({ name: "app" }));
    assert.equal(projectCacheDir(path.join(clone, "src", "hub")), path.join(clone, "models"));
    process.env.XDG_CACHE_HOME = path.join(root, "xdg");
    assert.equal(projectCacheDir(path.join(dependency, "src", "hub")), path.join(root, "xdg", "florence2-ts"));
    delete process.env.XDG_CACHE_HOME;
    process.env.HOME = path.join(root, "home");
    assert.equal(userCacheDir("linux"), path.join(root, "home", ".cache", "florence2-ts"));
    assert.equal(userCacheDir("darwin"), path.join(root, "home", "Library", "Caches", "florence2-ts"));
  });
});
