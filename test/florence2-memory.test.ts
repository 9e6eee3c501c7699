/**
 * Memory of a batch over many distinct photos (issue 19): runBatch reads, preprocesses and encodes each distinct
 * image in turn and keeps only its features, so a batch never holds more than a few decoded photos at once. The
 * peak RSS of the batch, above the process's RSS before it, is measured exactly on Linux (VmHWM after a reset,
 * test/bench/memory.ts) and compared with the decoded size of all the batch's photos.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { Florence2 } from "../src/florence2";
import { MiB, peakRssBytes, resetPeakRss, rssBytes } from "./bench/memory";
import { writeStandInModel } from "./support/standin";

const PHOTOS = 24;
const WIDTH = 2000;
const HEIGHT = 1500;

describe("florence2: memory of a batch over many distinct photos", function () {
  this.timeout(240_000);
  let root: string;
  let model: Florence2;
  const files: string[] = [];

  before(async function () {
    if (!resetPeakRss()) {
      console.log("    skipped: the peak RSS cannot be reset here (/proc/self/clear_refs is Linux only)");
      this.skip();
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-memory-"));
    const { folder } = await writeStandInModel(path.join(root, "model"), { size: "tiny" });
    model = await Florence2.load(folder, { intraOpNumThreads: 1, cacheImageFeatures: false });
    for (let i = 0; i < PHOTOS; i++) {
      // Smooth gradients: small JPEG files (the batch's input stays small), full-size pixels once decoded.
      const file = path.join(root, `photo-${i}.jpg`);
      const gradient = Buffer.alloc(WIDTH * 3);
      for (let x = 0; x < WIDTH; x++) gradient.set([(x * 255) / WIDTH, (i * 10) % 256, 255 - (x * 255) / WIDTH], x * 3);
      await sharp(gradient, { raw: { width: WIDTH, height: 1, channels: 3 } }).resize(WIDTH, HEIGHT, { kernel: "nearest" }).jpeg().toFile(file);
      files.push(file);
    }
    await model.run(files[0], "<CAPTION>", undefined, { numBeams: 1, maxNewTokens: 2 }); // warm the sessions up
  });
  after(async () => {
    await model?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it(`holds at most a few of its ${PHOTOS} decoded photos at once`, async () => {
    const decodedPhoto = WIDTH * HEIGHT * 3;
    const requests = files.map((image) => ({ image, task: "<CAPTION>", options: { numBeams: 1, maxNewTokens: 2 } }));
    const before = rssBytes();
    resetPeakRss();
    const outputs = await model.runBatch(requests);
    const growth = peakRssBytes() - before;
    assert.equal(outputs.length, PHOTOS);
    assert.equal(outputs[0].timings.batch?.visionRuns, PHOTOS);
    const photosWorth = growth / decodedPhoto;
    console.log(`      peak RSS ${(growth / MiB).toFixed(0)} MiB above the RSS before the batch: ${photosWorth.toFixed(1)} decoded photos' worth (all ${PHOTOS}: ${((PHOTOS * decodedPhoto) / MiB).toFixed(0)} MiB)`);
    assert.ok(photosWorth < 6, `the batch's peak grew ${(growth / MiB).toFixed(0)} MiB, ${photosWorth.toFixed(1)} decoded photos' worth; expected under 6 of its ${PHOTOS}`);
  });
});
