/**
 * The live progress line: what it says, where it goes (a terminal line redrawn in place, plain lines in a log, a
 * notebook display entry overwritten and then replaced by the result), how often it draws, and that a run too short
 * to draw leaves only the result, as without progress. Then on a real model run.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Florence2 } from "../../src/florence2";
import { formatLiveLine, liveProgress } from "../../src/notebook/live-progress";
import { BEAM_TEST_IDS, writeStandInModel } from "../support/standin";
import { simulateKernel } from "../support/tslab-kernel";
import { fakeClock, fakeStream, idsOf } from "../support/progress-fakes";
const fakeStreamAt = (isTTY: boolean, columns = 120) => fakeStream(isTTY, columns);
const fakeClockAt = () => fakeClock(1000);

const decoding = () => {
  const calls: number[] = [];
  return { calls, tokenizer: { decode: (ids: readonly number[]) => (calls.push(ids.length), `</s><s>word${ids.length - 1}  and more`) } };
};

describe("live-progress", function () {
  describe("formatLiveLine", function () {
    it("says tokens, tokens per second, seconds and the end of the text, without special tokens", function () {
      const stats = { tokens: 88, seconds: 2.3, tokensPerSecond: 38.26 };
      assert.equal(formatLiveLine("<OD>", stats, "</s><s>car<loc_52>  and\nmore</s>"), "<OD>: 88 tokens, 38.3 tokens/s, 2.3 s | car<loc_52> and more");
      assert.equal(formatLiveLine(undefined, { tokens: 0, seconds: 0, tokensPerSecond: 0 }, undefined), "0 tokens, – tokens/s, 0.0 s");
      const long = formatLiveLine("<OCR>", stats, "x".repeat(500));
      assert.ok(long.endsWith(`| …${"x".repeat(79)}`), long);
      const narrow = formatLiveLine("<OCR>", stats, "abcdefghij".repeat(20), 60);
      assert.equal(narrow.length, 60);
      assert.ok(narrow.endsWith("j"));
      assert.equal(formatLiveLine("<OCR>", stats, "text", 30), "<OCR>: 88 tokens, 38.3 tokens/");
      const locs = Array.from({ length: 20 }, (_, i) => `<loc_${100 + i}>`).join("");
      const cut = formatLiveLine("<OD>", stats, `car${locs}`);
      assert.ok(/ \| …<loc_\d+>/.test(cut) && cut.endsWith("<loc_119>"), `starts at a whole loc token: ${cut}`);
    });
  });

  describe("on a terminal", function () {
    it("redraws one line with \\r at most every 200 ms, decoding only then and only the last ids, and clears it for the result", function () {
      const { writes, stream } = fakeStreamAt(true);
      const clock = fakeClockAt();
      const printed: string[] = [];
      const { calls, tokenizer } = decoding();
      const p = liveProgress({ label: "<OD>", tokenizer, stream, now: clock.now, print: (t) => printed.push(t) });
      for (let n = 1; n <= 1000; n++) {
        clock.advance(1);
        p.onToken(idsOf(n));
      }
      assert.equal(p.updates, 5, "1000 steps of 1 ms: one update per 200 ms");
      assert.deepEqual(calls, [40, 40, 40, 40, 40], "the last 40 ids decoded, only when drawn");
      assert.equal(writes.length, 5);
      for (const w of writes) assert.match(w, /^\r<OD>: \d+ tokens, [\d.]+ tokens\/s, [\d.]+ s \| word\d+ and more\x1b\[K$/);
      assert.match(writes[4], /^\r<OD>: 1000 tokens, 1000\.0 tokens\/s, 1\.0 s/);
      assert.deepEqual(p.stats(), { tokens: 1000, seconds: 1, tokensPerSecond: 1000 });
      p.done("RESULT");
      assert.equal(writes[5], "\r\x1b[K");
      assert.deepEqual(printed, ["RESULT"]);
      p.done("again");
      p.onToken(idsOf(2000));
      assert.deepEqual(printed, ["RESULT"], "done once");
      assert.equal(writes.length, 6);
    });

    it("leaves no trace when the run ends before the first update", function () {
      const { writes, stream } = fakeStreamAt(true);
      const clock = fakeClockAt();
      const printed: string[] = [];
      const p = liveProgress({ label: "<CAPTION>", stream, now: clock.now, print: (t) => printed.push(t) });
      for (let n = 1; n <= 20; n++) {
        clock.advance(9);
        p.onToken(idsOf(n));
      }
      p.done("A caption.");
      assert.deepEqual(writes, []);
      assert.deepEqual(printed, ["A caption."]);
    });
  });

  it("in a log or pipe, writes a plain line every 10 s of a long task only", function () {
    const { writes, stream } = fakeStreamAt(false);
    const clock = fakeClockAt();
    const p = liveProgress({ label: "<DENSE_REGION_CAPTION>", stream, now: clock.now, print: () => undefined });
    for (let n = 1; n <= 250; n++) {
      clock.advance(100);
      p.onToken(idsOf(n));
    }
    assert.deepEqual(writes, ["<DENSE_REGION_CAPTION>: 100 tokens, 10.0 tokens/s, 10.0 s\n", "<DENSE_REGION_CAPTION>: 200 tokens, 10.0 tokens/s, 20.0 s\n"]);
    p.done();
    assert.equal(writes.length, 2);
  });

  it("for a runBatch, sums the tokens of every request, finished ones included, and shows no text", function () {
    const { writes, stream } = fakeStreamAt(false);
    const clock = fakeClockAt();
    const { calls, tokenizer } = decoding();
    const p = liveProgress({ label: "runBatch of 3", tokenizer, stream, now: clock.now, intervalMs: 1000, print: () => undefined });
    // Three requests decoding together; request 1 ends after 4 steps, the others go on.
    for (let step = 1; step <= 20; step++) {
      clock.advance(100);
      for (const request of [0, 1, 2]) {
        if (request === 1 && step > 4) continue;
        p.onBatchToken(idsOf(step), request);
      }
    }
    assert.equal(p.stats().tokens, 20 + 4 + 20);
    assert.deepEqual(writes, [
      // Drawn at the first call past each second: request 0 at its 10th and 20th token, request 2 a step behind.
      "runBatch of 3: 23 tokens, 24.4 tokens/s, 1.0 s\n",
      "runBatch of 3: 43 tokens, 22.1 tokens/s, 2.0 s\n",
    ]);
    assert.deepEqual(calls, [], "nothing decoded: no single text to show");
    p.done();
  });

  it("when quiet, draws nothing and still prints the result", function () {
    const { writes, stream } = fakeStreamAt(true);
    const clock = fakeClockAt();
    const printed: string[] = [];
    const { calls, tokenizer } = decoding();
    const p = liveProgress({ mode: false, tokenizer, stream, now: clock.now, print: (t) => printed.push(t) });
    for (let n = 1; n <= 100; n++) {
      clock.advance(50);
      p.onToken(idsOf(n));
    }
    p.done("R");
    assert.deepEqual([writes, calls, printed, p.updates], [[], [], ["R"], 0]);
    assert.equal(p.stats().tokens, 100);
  });

  it("in a tslab notebook, overwrites one display entry every 500 ms and leaves the result in it", function () {
    const kernel = simulateKernel();
    try {
      const clock = fakeClockAt();
      const printed: string[] = [];
      const p = liveProgress({ label: "<OD>", tokenizer: decoding().tokenizer, now: clock.now, print: (t) => printed.push(t) });
      for (let n = 1; n <= 30; n++) {
        clock.advance(100);
        p.onToken(idsOf(n));
      }
      p.done('{"<OD>":{}}');
      const texts = kernel.messages.map((m) => m.data["text/plain"]);
      assert.equal(texts.length, 7, "6 updates in 3 s, then the result");
      assert.match(texts[0], /^<OD>: 5 tokens, 10\.0 tokens\/s, 0\.5 s \| word5 and more$/);
      for (const text of texts.slice(0, 6)) assert.ok(text.length <= 100, "one row of the output area");
      assert.equal(texts[6], '{"<OD>":{}}');
      const ids = new Set(kernel.messages.map((m) => m.transient?.display_id));
      assert.equal(ids.size, 1, "one display entry");
      assert.deepEqual(kernel.messages.map((m) => m.update), [false, true, true, true, true, true, true]);
      assert.equal(printed.length, 0, "the result is in the entry, not printed again");

      // A run that ends before the first update: no entry at all, the result printed as usual.
      const quick = liveProgress({ label: "<OD>", now: clock.now, print: (t) => printed.push(t) });
      quick.onToken(idsOf(1));
      quick.done("quick");
      assert.equal(kernel.messages.length, 7);
      assert.deepEqual(printed, ["quick"]);

      // Without a result (the run failed), the entry is emptied.
      const failed = liveProgress({ label: "<OD>", now: clock.now });
      clock.advance(600);
      failed.onToken(idsOf(3));
      failed.done();
      assert.deepEqual(kernel.messages.slice(7).map((m) => m.data["text/plain"]), ["<OD>: 3 tokens, – tokens/s, 0.6 s", ""]);
    } finally {
      kernel.stop();
    }
  });

  it("rejects an unknown mode", function () {
    assert.throws(() => liveProgress({ mode: "loud" as never }), /Unknown live progress mode "loud"\. Expected true, false, or one of: auto, terminal, notebook, lines, silent\./);
  });

  it("follows a real model run token by token and shows the text the model generated", async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "live-progress-"));
    try {
      const folder = path.join(dir, "model");
      await writeStandInModel(folder, { restrictTo: BEAM_TEST_IDS });
      const model = await Florence2.load(folder, { device: "cpu" });
      try {
        const { writes, stream } = fakeStreamAt(true, 400);
        const printed: string[] = [];
        const p = liveProgress({ label: "<OD>", tokenizer: model.tokenizer, stream, intervalMs: 0, print: (t) => printed.push(t) });
        const image = { data: new Uint8Array(32 * 32 * 3).fill(128), width: 32, height: 32 };
        const out = await model.run(image, "<OD>", undefined, { numBeams: 1, maxNewTokens: 12, onToken: p.onToken });
        p.done(JSON.stringify(out.result));
        assert.equal(p.stats().tokens, out.ids.length - 1);
        assert.equal(p.updates, out.ids.length - 1, "one update per generated token with intervalMs 0");
        const expectedText = model.tokenizer.decode(out.ids).replace(/<\/?s>|<pad>/g, "").replace(/\s+/g, " ").trim();
        assert.ok(writes[writes.length - 2].includes(expectedText.slice(-40)), `${writes[writes.length - 2]} ends with ${expectedText}`);
        assert.deepEqual(printed, [JSON.stringify(out.result)]);
      } finally {
        await model.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
