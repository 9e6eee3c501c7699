/**
 * The display layer the three progress views share: one vocabulary of modes (and the older "bar"), where each
 * mode puts a line, and the figures every view reads the same way.
 */
import { strict as assert } from "node:assert";
import {
  formatBar,
  formatDuration,
  formatPercent,
  formatRate,
  openSurface,
  resolveDisplayMode,
} from "../../src/notebook/progress-display";
import { runningTslab } from "../../src/notebook/tslab";
import { fakeStream } from "../support/progress-fakes";
import { simulateKernel } from "../support/tslab-kernel";

describe("notebook/progress-display", function () {
  it("resolves the modes from the option and the environment, accepting true, false and the older \"bar\"", function () {
    assert.equal(runningTslab(), undefined, "mocha is no tslab kernel");
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    assert.equal(resolveDisplayMode(undefined, tty, "x"), "terminal");
    assert.equal(resolveDisplayMode("auto", pipe, "x"), "lines");
    assert.equal(resolveDisplayMode(true, pipe, "x"), "lines");
    assert.equal(resolveDisplayMode(false, tty, "x"), "silent");
    assert.equal(resolveDisplayMode("bar", pipe, "x"), "terminal");
    assert.equal(resolveDisplayMode("notebook", tty, "x"), "lines", "a notebook outside a kernel falls back to lines");
    assert.throws(
      () => resolveDisplayMode("loud", tty, "display mode", ["a function"]),
      /^Error: Unknown display mode "loud"\. Expected true, false, a function, or one of: auto, terminal, notebook, lines, silent\.$/,
    );
    const kernel = simulateKernel();
    try {
      assert.equal(resolveDisplayMode("auto", pipe, "x"), "notebook");
      assert.equal(resolveDisplayMode("terminal", pipe, "x"), "terminal", "an explicit mode is kept");
    } finally {
      kernel.stop();
    }
  });

  it("puts a line where each mode says: redrawn in place and cut to the width, appended, in one entry, or nowhere", function () {
    const terminal = fakeStream(true, 50);
    const t = openSurface("terminal", terminal.stream);
    t.show("x".repeat(80));
    t.say("a message");
    assert.equal(t.end(), false);
    assert.deepEqual(terminal.writes, [`\r${"x".repeat(49)}\x1b[K`, "\r\x1b[K", "a message\n"], "nothing to clear after the message");

    const log = fakeStream(false, 0);
    const l = openSurface("lines", log.stream);
    l.show("line 1");
    l.say("note");
    assert.equal(l.end("result"), false, "the view prints the result itself");
    assert.deepEqual(log.writes, ["line 1\n", "note\n"]);

    const texts: string[] = [];
    const n = openSurface("notebook", log.stream, { text: (s) => texts.push(s) });
    n.show("progress");
    assert.equal(n.end("result"), true);
    assert.deepEqual(texts, ["progress", "result"]);
    assert.equal(n.width, 100);

    const quiet = fakeStream(true, 80);
    const q = openSurface("silent", quiet.stream);
    q.show("progress");
    q.say("note");
    assert.deepEqual(quiet.writes, []);
  });

  it("reads figures the same in every view: durations, rates, shares and bars", function () {
    assert.deepEqual([null, Infinity, 0, 42.4, 185, 3725].map(formatDuration), ["–", "–", "0s", "42s", "3m05s", "1h02m"]);
    assert.equal(formatRate(56.08, "tokens"), "56.1 tokens/s");
    assert.equal(formatRate(null, "tokens"), "– tokens/s");
    assert.deepEqual([formatPercent(12, 40), formatPercent(39, 40), formatPercent(0, 0)], ["30%", "97%", "100%"]);
    assert.equal(formatBar(12, 40), "[######..............]");
    assert.equal(formatBar(5, 0, 4), "[####]", "nothing to do is done");
  });
});
