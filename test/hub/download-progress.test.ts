import { strict as assert } from "node:assert";
import {
  DownloadProgress,
  LineRenderer,
  NotebookRenderer,
  TerminalRenderer,
  createProgressRenderer,
  formatBytes,
  formatProgressLine,
  type ProgressRenderer,
  type ProgressSnapshot,
} from "../../src/hub/download-progress";
import { formatDuration } from "../../src/notebook/progress-display";
import { runningTslab } from "../../src/notebook/tslab";
import { simulateKernel } from "../support/tslab-kernel";

/** A renderer that keeps every snapshot and message. */
class Recorder implements ProgressRenderer {
  updates: ProgressSnapshot[] = [];
  finals: ProgressSnapshot[] = [];
  messages: string[] = [];
  update(s: ProgressSnapshot): void {
    this.updates.push(s);
  }
  finish(s: ProgressSnapshot): void {
    this.finals.push(s);
  }
  message(text: string): void {
    this.messages.push(text);
  }
}

/** A stand-in for process.stderr that records what is written. */
function fakeStream(isTTY: boolean, columns = 80): NodeJS.WriteStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns, written, write: (s: string) => (written.push(s), true) } as unknown as NodeJS.WriteStream & { written: string[] };
}

describe("hub/download-progress: download counting, and its view on the display layer", function () {
  it("counts bytes, speed and ETA per file and overall on a clock", function () {
    let now = 0;
    const rec = new Recorder();
    const p = new DownloadProgress("org/model", [{ path: "a.onnx", size: 1000 }, { path: "onnx/b.onnx", size: 3000 }], rec, 0, () => now);
    p.startFile("a.onnx", 0);
    now = 1000;
    p.advance("a.onnx", 500);
    let s = rec.updates[rec.updates.length - 1];
    assert.deepEqual(
      { file: s.file?.bytes, overall: s.overall.bytes, total: s.overall.total, rate: s.overall.bytesPerSecond },
      { file: 500, overall: 500, total: 4000, rate: 500 },
    );
    assert.equal(s.file?.etaSeconds, 1);
    assert.equal(s.overall.etaSeconds, 7);
    now = 2000;
    p.advance("a.onnx", 500);
    p.finishFile("a.onnx");
    s = rec.updates[rec.updates.length - 1];
    assert.equal(s.file, null);
    assert.equal(s.overall.filesDone, 1);
    p.startFile("onnx/b.onnx", 2000); // resumed: 2000 bytes already on disk
    s = rec.updates[rec.updates.length - 1];
    assert.equal(s.overall.bytes, 3000);
    assert.equal(s.overall.bytesPerSecond, 500, "bytes found on disk do not count towards the speed");
    now = 3000;
    p.advance("onnx/b.onnx", 1000);
    p.finishFile("onnx/b.onnx");
    p.finish();
    assert.equal(rec.finals.length, 1);
    assert.deepEqual(
      { bytes: rec.finals[0].overall.bytes, done: rec.finals[0].done, files: rec.finals[0].overall.filesDone, eta: rec.finals[0].overall.etaSeconds },
      { bytes: 4000, done: true, files: 2, eta: 0 },
    );
    assert.throws(() => p.advance("other", 1), /"other", which is not one of the files/);
  });

  it("says where a failed download stopped instead of a summary", function () {
    const rec = new Recorder();
    const p = new DownloadProgress("org/model", [{ path: "a", size: 2_000_000 }], rec, 0);
    p.startFile("a", 0);
    p.advance("a", 500_000);
    p.finish(false);
    assert.deepEqual(rec.finals, []);
    assert.deepEqual(rec.messages, ["org/model: download stopped at 500.0 kB of 2.0 MB; the next load resumes it."]);
  });

  it("throttles redraws but always draws file starts and ends", function () {
    let now = 0;
    const rec = new Recorder();
    const p = new DownloadProgress("m", [{ path: "a", size: 100 }], rec, 100, () => now);
    p.startFile("a", 0);
    for (let i = 0; i < 10; i++) p.advance("a", 1);
    assert.equal(rec.updates.length, 1);
    now = 150;
    p.advance("a", 1);
    p.finishFile("a");
    assert.equal(rec.updates.length, 3);
  });

  it("formats sizes in decimal units and ETAs compactly", function () {
    assert.deepEqual(
      [0, 999, 1000, 5405, 367_000_000, 1_090_000_000].map(formatBytes),
      ["0 B", "999 B", "1.0 kB", "5.4 kB", "367.0 MB", "1.1 GB"],
    );
    assert.deepEqual([null, Infinity, 0, 42.4, 185, 3720].map(formatDuration), ["–", "–", "0s", "42s", "3m05s", "1h02m"]);
  });

  const snapshot: ProgressSnapshot = {
    title: "onnx-community/Florence-2-base-ft",
    file: { path: "onnx/vision_encoder.onnx", bytes: 165_000_000, total: 367_000_000, bytesPerSecond: 12_000_000, etaSeconds: 16.8 },
    overall: { bytes: 300_000_000, total: 1_090_000_000, bytesPerSecond: 12_000_000, etaSeconds: 65.8, filesDone: 2, filesTotal: 9 },
    done: false,
  };

  it("draws one line in place in a terminal, cut to its width", function () {
    const stream = fakeStream(true, 60);
    const bar = new TerminalRenderer(stream);
    bar.update(snapshot);
    assert.match(stream.written[0], /^\r/);
    assert.ok(stream.written[0].endsWith("\x1b[K"));
    assert.ok(stream.written[0].length <= 1 + 59 + 3);
    const wide = fakeStream(true, 300);
    new TerminalRenderer(wide).update(snapshot);
    assert.ok(wide.written[0].includes("vision_encoder.onnx 44% 165.0 MB/367.0 MB ETA 17s"), wide.written[0]);
    assert.ok(wide.written[0].includes("27% 300.0 MB/1.1 GB (2/9 files) 12.0 MB/s ETA 1m06s"), wide.written[0]);
    bar.finish({ ...snapshot, file: null, done: true });
    assert.match(stream.written[stream.written.length - 1], /^onnx-community\/Florence-2-base-ft: 2 file\(s\), 300\.0 MB downloaded and verified\.\n$/);
  });

  it("prints plain lines for logs: when a file starts, then at most every interval", function () {
    let now = 0;
    const lines: string[] = [];
    const r = new LineRenderer((l) => lines.push(l), 10_000, () => now);
    r.update(snapshot);
    r.update(snapshot);
    now = 5_000;
    r.update(snapshot);
    assert.deepEqual(lines, ["onnx-community/Florence-2-base-ft: downloading onnx/vision_encoder.onnx (367.0 MB, resuming at 165.0 MB)"]);
    now = 10_001;
    r.update(snapshot);
    assert.equal(lines.length, 2);
    assert.ok(lines[1].includes("(2/9 files)"));
    assert.ok(!lines.some((l) => l.includes("\r")));
  });

  it("updates a single notebook display in place", function () {
    const texts: string[] = [];
    const r = new NotebookRenderer({ text: (s) => texts.push(s) });
    r.update(snapshot);
    r.update({ ...snapshot, overall: { ...snapshot.overall, bytes: 400_000_000 } });
    r.finish({ ...snapshot, done: true });
    assert.equal(texts.length, 3);
    assert.ok(texts[1].includes("400.0 MB/1.1 GB"));
    assert.ok(texts[2].endsWith("downloaded and verified."));
  });

  it("picks the renderer from the option and the environment", function () {
    assert.equal(runningTslab(), undefined, "mocha is no tslab kernel");
    const silent = fakeStream(true);
    const s = createProgressRenderer(false, silent).renderer;
    s.update(snapshot);
    s.message("hello");
    assert.deepEqual(silent.written, []);
    assert.ok(createProgressRenderer("auto", fakeStream(true)).renderer instanceof TerminalRenderer);
    assert.ok(createProgressRenderer("auto", fakeStream(false)).renderer instanceof LineRenderer);
    assert.ok(createProgressRenderer(true, fakeStream(false)).renderer instanceof LineRenderer);
    assert.ok(createProgressRenderer("notebook", fakeStream(false)).renderer instanceof LineRenderer, "lines outside a notebook");
    const seen: ProgressSnapshot[] = [];
    createProgressRenderer((x) => seen.push(x)).renderer.message("waiting");
    assert.equal(seen[0].message, "waiting");
    assert.ok(createProgressRenderer("terminal", fakeStream(false)).renderer instanceof TerminalRenderer);
    assert.ok(createProgressRenderer("bar", fakeStream(false)).renderer instanceof TerminalRenderer, '"bar" is still accepted');
    assert.throws(
      () => createProgressRenderer("loud" as never),
      /Unknown progress option "loud"\. Expected true, false, a function, or one of: auto, terminal, notebook, lines, silent\./,
    );
  });

  it("draws into one notebook display entry inside a tslab kernel", function () {
    const kernel = simulateKernel();
    try {
      for (const option of ["auto", "notebook", true] as const) {
        const { renderer } = createProgressRenderer(option, fakeStream(true));
        assert.ok(renderer instanceof NotebookRenderer, `${String(option)} picks the notebook renderer`);
      }
      const { renderer } = createProgressRenderer("auto", fakeStream(true));
      renderer.update(snapshot);
      renderer.finish({ ...snapshot, done: true });
      const [first, last] = kernel.messages.slice(-2);
      assert.equal(first.data["text/plain"], formatProgressLine(snapshot));
      assert.ok(last.data["text/plain"].endsWith("downloaded and verified."));
      assert.equal(last.update, true, "the summary overwrites the progress line");
      assert.equal(first.transient?.display_id, last.transient?.display_id);
    } finally {
      kernel.stop();
    }
  });
});
