/**
 * hub/cache: a cache folder holds the files of one commit. Adding a dtype after the branch moved on downloads
 * from the folder's own commit; when the Hub no longer has that commit, the load is refused with a message
 * instead of mixing two versions in one folder.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { MANIFEST_FILE, resolveModelFolder } from "../../src/hub/index";
import { REPO, expectedFiles, rejectsWith, useHubFixture } from "../support/hub-fixture";

describe("hub/cache: one folder, one commit", function () {
  this.timeout(60000);
  const f = useHubFixture();
  const q8File = "onnx/decoder_model_merged_quantized.onnx";

  /** A copy of the served model with config.json and a q8 graph changed: the branch's next commit. */
  function nextVersion(): string {
    const next = fs.mkdtempSync(path.join(f.tmp, "next-"));
    fs.cpSync(f.source, next, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(next, "config.json"), "utf8"));
    fs.writeFileSync(path.join(next, "config.json"), JSON.stringify({ ...config, note: "the next upload" }));
    fs.appendFileSync(path.join(next, q8File), Buffer.from("changed"));
    return next;
  }

  const manifestOf = (folder: string) => JSON.parse(fs.readFileSync(path.join(folder, MANIFEST_FILE), "utf8"));

  it("adds a dtype from the folder's own commit after the branch moved on", async function () {
    const folder = await resolveModelFolder(REPO, f.opts());
    const first = f.server.commitOf(REPO);
    const second = f.server.pushCommit(REPO, nextVersion());
    assert.notEqual(first, second);
    await resolveModelFolder(REPO, f.opts({ dtype: "q8" }));
    // Every file in the folder is the first commit's: the one the fp32 graphs came with.
    f.assertSameBytes(folder, [...expectedFiles(f.source), ...expectedFiles(f.source, "q8")]);
    assert.equal(manifestOf(folder).commit, first);
    const resolved = f.server.requests.filter((r) => r.kind === "resolve").map((r) => r.path);
    assert.ok(resolved.every((p) => !p.includes(second)), `nothing was fetched from the new commit: ${resolved.join(", ")}`);
  });

  it("refuses to add files when the Hub no longer has the folder's commit, and says what to do", async function () {
    const folder = await resolveModelFolder(REPO, f.opts());
    const first = f.server.commitOf(REPO);
    const config = fs.readFileSync(path.join(folder, "config.json"));
    f.server.pushCommit(REPO, nextVersion(), true); // a force-push: the first commit is gone
    await rejectsWith(resolveModelFolder(REPO, f.opts({ dtype: "q8" })), "NOT_FOUND", first, folder, "mix", "Delete the folder");
    assert.ok(fs.readFileSync(path.join(folder, "config.json")).equals(config), "the folder was left as it was");
    assert.ok(!fs.existsSync(path.join(folder, q8File)));
    assert.equal(manifestOf(folder).commit, first);
  });

  it("from a mirror that reports no commit, refuses to add files when the ones it has are listed differently now", async function () {
    f.server.hideCommit = true;
    const folder = await resolveModelFolder(REPO, f.opts());
    assert.equal(manifestOf(folder).commit, "main");
    f.server.pushCommit(REPO, nextVersion());
    await rejectsWith(resolveModelFolder(REPO, f.opts({ dtype: "q8" })), "INTEGRITY", "config.json", "mix", "Delete the folder");
    assert.ok(!fs.existsSync(path.join(folder, q8File)));
    f.assertSameBytes(folder, ["config.json"]);
  });

  it("downloads the new head into a fresh folder", async function () {
    f.server.pushCommit(REPO, nextVersion());
    const folder = await resolveModelFolder(REPO, f.opts({ dtype: "q8" }));
    assert.equal(manifestOf(folder).commit, f.server.commitOf(REPO));
    assert.match(fs.readFileSync(path.join(folder, "config.json"), "utf8"), /the next upload/);
  });
});
