/**
 * Telling a stand-in folder from a real model (src/standin/marker.ts): what notebooks and `npm start` ask before
 * marking output as random weights'.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isStandInFolder } from "../../src/standin/marker";
import { SHARED_DIR, writeStandInModel } from "../support/standin";

describe("standin/marker: isStandInFolder", function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "standin-marker-"))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const folderWith = (name: string, config: string | undefined) => {
    const folder = path.join(tmp, name);
    fs.mkdirSync(folder, { recursive: true });
    if (config !== undefined) fs.writeFileSync(path.join(folder, "config.json"), config);
    return folder;
  };

  it("is true for a folder the generator wrote", async function () {
    this.timeout(30_000);
    const folder = path.join(tmp, "generated");
    await writeStandInModel(folder);
    assert.equal(isStandInFolder(folder), true);
  });

  it("is false for the real model's config.json, other configs, and folders without a readable one", function () {
    const real = path.join(SHARED_DIR, "florence2", "model-files");
    if (fs.existsSync(path.join(real, "config.json"))) assert.equal(isStandInFolder(real), false);
    else console.log(`      (the real config.json check is skipped: ${real} is absent)`);
    assert.equal(isStandInFolder(folderWith("plain", JSON.stringify({ text_config: {} }))), false);
    assert.equal(isStandInFolder(folderWith("false-marker", JSON.stringify({ stand_in: false }))), false);
    assert.equal(isStandInFolder(folderWith("marked", JSON.stringify({ stand_in: { note: "random weights" } }))), true);
    assert.equal(isStandInFolder(folderWith("broken", "{ not json")), false);
    assert.equal(isStandInFolder(folderWith("none", undefined)), false);
    assert.equal(isStandInFolder(path.join(tmp, "missing")), false);
  });
});
