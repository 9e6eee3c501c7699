import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inTslab, show, showImage, showResult, showTable, showText } from "../../src/notebook/display";
import { drawResult, renderImage } from "../../src/notebook/draw";
import type { RgbImage } from "../../src/image/image";
import { simulateKernel, tslabModuleLoaded } from "../support/tslab-kernel";

function plainImage(width: number, height: number): RgbImage {
  return { data: new Uint8Array(width * height * 3).fill(90), width, height };
}

/** Captures console.log while `work` runs. */
async function captureLog<T>(work: () => Promise<T> | T): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return { value: await work(), lines };
  } finally {
    console.log = original;
  }
}

describe("display", () => {
  // Runs first: nothing in this file has loaded tslab yet.
  describe("outside a tslab kernel", () => {
    it("displays nothing, prints a note instead, and never loads tslab", async function () {
      const alreadyLoaded = tslabModuleLoaded("public.js");
      const drawing = await renderImage(plainImage(30, 20));
      const { value, lines } = await captureLog(() => show(drawing));
      assert.equal(inTslab(), false);
      assert.equal(value, undefined);
      assert.deepEqual(lines, [`(not in a tslab notebook: 30x20 PNG of ${drawing.png.length} bytes not displayed; pass { saveAs: file } to write it to a file)`]);
      if (alreadyLoaded) {
        console.log("      (tslab was loaded by another test file; the no-load check is skipped)");
      } else {
        assert.equal(tslabModuleLoaded("public.js"), false, "tslab was required");
      }
    });

    it("prints nothing when quiet, and writes the PNG where saveAs says", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-display-"));
      try {
        const file = path.join(dir, "nested", "od.png");
        const result = { "<OD>": { bboxes: [[5, 5, 30, 25]], labels: ["car"] } };
        const { lines } = await captureLog(() => showResult(plainImage(40, 30), "<OD>", result, { saveAs: file, quiet: true }));
        assert.deepEqual(lines, []);
        const expected = await drawResult(plainImage(40, 30), "<OD>", result);
        assert.ok(fs.readFileSync(file).equals(expected.png));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("prints text", async () => {
      const { lines } = await captureLog(() => showText("A green car."));
      assert.deepEqual(lines, ["A green car."]);
    });

    it("rejects bytes that are not a PNG, naming the fix", () => {
      assert.throws(() => show(Buffer.from("GIF89a plus some more bytes here")), /do not start with the PNG signature.*drawResult\(\.\.\.\)\.png/);
      assert.throws(() => show("x.png" as unknown as Uint8Array), /Expected PNG bytes or a Drawing/);
    });
  });

  describe("inside a tslab kernel", () => {
    it("displays PNGs and text inline through tslab's display API", async () => {
      const kernel = simulateKernel();
      try {
        assert.equal(inTslab(), true);
        const { lines } = await captureLog(async () => {
          await showImage(plainImage(16, 12));
          showText("A green car.");
          await showResult(plainImage(16, 12), "<CAPTION>", { "<CAPTION>": "A green car." });
        });
        assert.deepEqual(lines, [], "nothing printed to stdout");
        const drawing = await renderImage(plainImage(16, 12));
        const drawn = await drawResult(plainImage(16, 12), "<CAPTION>", { "<CAPTION>": "A green car." });
        assert.equal(kernel.messages.length, 3);
        assert.equal(kernel.messages[0].data["image/png"], drawing.png.toString("base64"));
        assert.equal(kernel.messages[1].data["text/plain"], "A green car.");
        assert.equal(kernel.messages[2].data["image/png"], drawn.png.toString("base64"));
      } finally {
        kernel.stop();
      }
      assert.equal(inTslab(), false, "a kernel module without a cell channel is not a running kernel");
    });

    it("shows a table as one output holding both forms, text/html and text/plain; outside a kernel prints the text", async () => {
      const table = { text: "task  wall\nOD    1 s", html: "<table><tr><td>OD</td><td>1 s</td></tr></table>" };
      const kernel = simulateKernel();
      try {
        const { lines } = await captureLog(() => showTable(table));
        assert.deepEqual(lines, [], "nothing printed besides");
        assert.deepEqual(kernel.messages.map((m) => [m.data, m.update]), [[{ "text/html": table.html, "text/plain": table.text }, false]]);
      } finally {
        kernel.stop();
      }
      const { lines } = await captureLog(() => showTable(table));
      assert.deepEqual(lines, [table.text]);
    });
  });
});
