import { strict as assert } from "node:assert";
import { runningTslab } from "../../src/notebook/tslab";
import { simulateKernel, tslabModuleLoaded } from "../support/tslab-kernel";

describe("tslab", () => {
  // Runs first: nothing in this file has loaded tslab yet.
  it("finds no kernel in plain Node, without loading tslab", function () {
    const alreadyLoaded = tslabModuleLoaded("public.js");
    assert.equal(runningTslab(), undefined);
    if (alreadyLoaded) {
      console.log("      (tslab was loaded by another test file; the no-load check is skipped)");
    } else {
      assert.equal(tslabModuleLoaded("public.js"), false, "tslab was required");
    }
  });

  it("gives the display API of the kernel that is running a cell, and nothing once the cell ends", () => {
    const kernel = simulateKernel();
    try {
      const tslab = runningTslab();
      assert.ok(tslab, "a kernel module with a cell channel is a running kernel");
      tslab.display.text("appended");
      const entry = tslab.newDisplay();
      entry.text("first");
      entry.text("second");
      assert.deepEqual(
        kernel.messages.map((m) => [m.data["text/plain"], m.update]),
        [["appended", false], ["first", false], ["second", true]],
      );
      const ids = kernel.messages.map((m) => m.transient?.display_id);
      assert.equal(ids[0], undefined, "display appends");
      assert.ok(ids[1] !== undefined && ids[1] === ids[2], "newDisplay overwrites its own entry");
    } finally {
      kernel.stop();
    }
    assert.equal(runningTslab(), undefined, "a kernel module without a cell channel is not a running kernel");
  });
});
