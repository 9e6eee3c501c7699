/**
 * hub/listing: what the tree listing says is checked before anything is built from it (hashes, sizes, paths),
 * and a file the listing gives no hash for is refused, not accepted on its size. Against a Hub server on
 * 127.0.0.1 whose listing is rewritten as a hostile server would.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveModelFolder } from "../../src/hub/index";
import { REPO, rejectsWith, useHubFixture } from "../support/hub-fixture";

/** Every file under `dir`, relative, or [] when it does not exist. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
}

describe("hub/listing: the listing is checked before it is used", function () {
  this.timeout(60000);
  const f = useHubFixture();
  const target = "onnx/decoder_model_merged.onnx_data";

  it("refuses an LFS oid that is not a sha256 (here a path out of the cache), and writes nothing outside the cache", async function () {
    // Where `.partial/../../../../../escape/` points from <cacheDir>/onnx-community/Florence-2-base-ft/main/.partial.
    const escape = path.join(path.dirname(f.cacheDir), "escape");
    fs.mkdirSync(escape, { recursive: true });
    f.server.editListing((e) => (e.path === target && e.lfs ? { ...e, lfs: { ...e.lfs, oid: "../../../../../escape/PWNED" } } : e));
    f.server.addFault({ kind: "cut", file: target, afterBytes: 1000, times: Infinity });
    const outcome = resolveModelFolder(REPO, f.opts());
    await outcome.catch(() => undefined);
    assert.deepEqual(filesUnder(escape), [], "nothing was written outside the cache folder");
    await rejectsWith(outcome, "HTTP", target, "lfs.oid", "64 hexadecimal", "../../../../../escape/PWNED");
    assert.equal(f.server.contentRequests(target).length, 0, "no byte of the file was requested");
  });

  it("refuses a git oid that is not 40 hexadecimal characters", async function () {
    f.server.editListing((e) => (e.path === "config.json" ? { ...e, oid: "../config" } : e));
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "config.json", "oid", "40 hexadecimal");
  });

  for (const size of [-1, 1.5, 2 ** 60, "100"]) {
    it(`refuses a size of ${JSON.stringify(size)}`, async function () {
      f.server.editListing((e) => (e.path === "config.json" ? { ...e, size } : e));
      await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "config.json", "size", "non-negative integer");
    });
  }

  it("refuses an LFS size that is not a safe integer", async function () {
    f.server.editListing((e) => (e.path === target && e.lfs ? { ...e, lfs: { ...e.lfs, size: 1e300 } } : e));
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", target, "size");
  });

  for (const bad of ["../outside.onnx_data", "/etc/passwd", "onnx/../../x", "onnx//x", "onnx\\x", "a\u0000b"]) {
    it(`refuses a listed path ${JSON.stringify(bad)}`, async function () {
      f.server.editListing((e) => (e.path === "preprocessor_config.json" ? { ...e, path: bad } : e));
      await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "path", JSON.stringify(bad));
      assert.ok(!fs.existsSync(path.join(f.folderOf(), "config.json")), "nothing was downloaded");
    });
  }

  it("refuses a file that the listing gives no hash for, instead of accepting it on its size", async function () {
    f.server.editListing((e) => (e.path === "config.json" ? { type: e.type, size: e.size, path: e.path } : e));
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "INTEGRITY", "config.json", "no sha256", "cannot be verified");
    assert.ok(!fs.existsSync(path.join(f.folderOf(), "config.json")));
  });

  it("refuses a Xet-only entry (a Xet hash, no LFS sha256) of a file it needs", async function () {
    f.server.editListing((e) => {
      if (e.path !== target || !e.lfs) return e;
      const { lfs, ...rest } = e;
      return { ...rest, size: lfs.size, xetHash: "0".repeat(64) };
    });
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "INTEGRITY", target, "no sha256", "cannot be verified");
  });

  it("accepts hash-less entries for files it does not download", async function () {
    f.server.editListing((e) => (e.path.startsWith("onnx/") && e.path.includes("_quantized") ? { type: e.type, size: e.size, path: e.path } : e));
    const folder = await resolveModelFolder(REPO, f.opts());
    f.assertSameBytes(folder, ["config.json", target]);
  });
});
