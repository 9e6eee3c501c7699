import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { SEED_TIMINGS, parseIPythonTime, seedCpuTotalSeconds, seedWallSeconds } from "../../src/walkthrough/seed-timings";
import { WALKTHROUGH_TASKS } from "../../src/text/tasks";
import { formatTime } from "../../src/notebook/timing";

const SHARED = path.resolve(__dirname, "..", "..", "..", "shared");

describe("seed-timings: the walkthrough's %%time table", function () {
  it("has one row per walkthrough task, in the walkthrough's order", function () {
    assert.deepEqual(Object.keys(SEED_TIMINGS), WALKTHROUGH_TASKS.map((t) => t.token));
  });

  it("holds strings IPython's _format_time prints, which parse back to the same string", function () {
    for (const [task, t] of Object.entries(SEED_TIMINGS)) {
      for (const text of [t.user, t.sys, t.total, t.wall]) {
        assert.equal(formatTime(parseIPythonTime(text)), text, `${task}: ${text}`);
      }
    }
    assert.equal(seedWallSeconds("<CAPTION>"), 0.421);
    assert.equal(seedWallSeconds("<REGION_TO_OCR>"), undefined);
    assert.equal(seedCpuTotalSeconds("<OCR_WITH_REGION>"), 3);
    assert.equal(seedCpuTotalSeconds("<REGION_TO_OCR>"), undefined);
    assert.throws(() => parseIPythonTime("1min 15s"), /Expected a time like "421 ms"/);
  });

  it("matches ../shared/SEED_TIMINGS.md row for row", function () {
    const file = path.join(SHARED, "SEED_TIMINGS.md");
    if (!fs.existsSync(file)) {
      console.log(`      (skipped: ${file} is absent; it is the reference folder beside the repository)`);
      this.skip();
    }
    const rows = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .map((l) => /^\| ([A-Z_]+) \| (.+?) \/ (.+?) \/ (.+?) \| (.+?) \|$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    assert.equal(rows.length, 14);
    for (const [, name, user, sys, total, wall] of rows) {
      assert.deepEqual(SEED_TIMINGS[`<${name}>`], { user, sys, total, wall }, name);
    }
  });
});
