/**
 * Progress over the user's photos: the line (photos done, elapsed, ETA at the pace of decoded photos, the batch's
 * tokens), the bar redrawn in place on a terminal, one plain line per batch in a log, messages above the bar, and
 * nothing when quiet.
 */
import { strict as assert } from "node:assert";
import { ImagesProgress, formatImagesLine } from "../../src/walkthrough/images-progress";
import { fakeClock, fakeStream, idsOf } from "../support/progress-fakes";
const fakeStreamAt = (isTTY: boolean, columns = 200) => fakeStream(isTTY, columns);
const fakeClockAt = () => fakeClock(5000);

describe("walkthrough/images-progress", function () {
  it("says photos done of all, elapsed time, ETA and the batch's tokens", function () {
    const state = { total: 40, done: 12, skipped: 1, seconds: 65, etaSeconds: 151, batch: { images: 8, tokens: 812, tokensPerSecond: 56.08 } };
    assert.equal(
      formatImagesLine(state, { bar: true }),
      "photos 12/40 (30%) [######..............] 1m05s elapsed, ETA 2m31s, 1 skipped | batch of 8 photos: 812 tokens, 56.1 tokens/s",
    );
    assert.equal(formatImagesLine({ ...state, skipped: 0, batch: null, etaSeconds: null }), "photos 12/40 (30%), 1m05s elapsed, ETA –");
    assert.equal(formatImagesLine(state, { bar: true, width: 50 }).length, 50);
  });

  it("on a terminal, redraws one bar in place at most every 200 ms while a batch decodes, and clears it at the end", function () {
    const { writes, stream } = fakeStreamAt(true);
    const clock = fakeClockAt();
    const p = new ImagesProgress(4, { stream, now: clock.now });
    p.batchStarted(2);
    assert.equal(writes.length, 1);
    assert.match(writes[0], /^\rphotos 0\/4 \(0%\) \[\.{20}\] 0s elapsed, ETA – \| batch of 2 photos: 0 tokens, 0\.0 tokens\/s\x1b\[K$/);
    for (let step = 1; step <= 20; step++) {
      clock.advance(50);
      p.onToken(idsOf(step), 0);
      p.onToken(idsOf(step), 1);
    }
    assert.equal(writes.length, 1 + 5, "every 200 ms over 1 s");
    assert.match(writes.at(-1) as string, /batch of 2 photos: 39 tokens, 39\.0 tokens\/s\x1b\[K$/, "drawn at request 0's 20th token, request 1 one behind");
    p.imagesDone(2);
    p.batchEnded();
    assert.match(writes.at(-1) as string, /^\rphotos 2\/4 \(50%\) \[#{10}\.{10}\] 1s elapsed, ETA 1s\x1b\[K$/);
    p.message("Skipped /p/bad.jpg: Cannot load image");
    assert.deepEqual(writes.slice(-3, -1), ["\r\x1b[K", "Skipped /p/bad.jpg: Cannot load image\n"], "the message on its own line, the bar drawn again below");
    p.finish();
    assert.equal(writes.at(-1), "\r\x1b[K");
  });

  it("in a log, writes one plain line per batch, with the ETA at the pace of decoded photos (skipped ones take no time)", function () {
    const { writes, stream } = fakeStreamAt(false);
    const clock = fakeClockAt();
    const p = new ImagesProgress(10, { stream, now: clock.now });
    p.batchStarted(3);
    p.message("Skipped /p/bad.jpg: broken");
    p.imagesDone(1, 1);
    clock.advance(4000);
    p.onToken(idsOf(30), 0);
    p.imagesDone(2);
    p.batchEnded();
    assert.deepEqual(writes, ["Skipped /p/bad.jpg: broken\n", "photos 3/10 (30%), 4s elapsed, ETA 14s, 1 skipped\n"]);
    p.finish();
    assert.equal(writes.length, 2);
  });

  it("when quiet, writes nothing", function () {
    const { writes, stream } = fakeStreamAt(true);
    const p = new ImagesProgress(2, { stream, mode: "silent" });
    p.batchStarted(2);
    p.onToken(idsOf(3), 0);
    p.imagesDone(2);
    p.batchEnded();
    p.finish();
    assert.deepEqual(writes, []);
  });
});
