/**
 * The --images results file: what a later run finds in it (the pairs done, keyed with the phrase), how it ends
 * (a whole last line without its newline, a line cut short by a kill), and that it never touches a file that holds
 * anything else, or another model's results.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ResultsFileError, ResultsWriter, pairKey, readResults, type ResultRecord, type RunIdentity } from "../../src/walkthrough/results-file";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";

const IDENTITY: RunIdentity = { model: "onnx-community/Florence-2-base-ft", dtype: "fp32", settings: { ...WALKTHROUGH_SETTINGS } };

function record(file: string, task: string, input?: string): ResultRecord {
  return {
    file,
    task,
    ...(input === undefined ? {} : { input }),
    image: { width: 640, height: 480 },
    result: { [task]: "A caption ü." },
    text: "</s><s>A caption ü.</s>",
    score: -0.25,
    timings: { total: 10, preprocess: 1, vision: 2, encoder: 1, decoder: 5, postprocess: 1, decoderSteps: 4, batch: { requests: 2, images: 1, total: 20 } },
    ...IDENTITY,
  };
}

const line = (r: ResultRecord) => `${JSON.stringify(r)}\n`;

describe("walkthrough/results-file: the --images JSON Lines file", function () {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "results-file-"))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("starts a new file (and its folder) and appends whole lines that read back as the pairs done", function () {
    const file = path.join(tmp, "new", "results.jsonl");
    const empty = readResults(file, IDENTITY);
    assert.deepEqual([empty.records, empty.done.size, empty.tail], [0, 0, { kind: "none" }]);
    assert.ok(!fs.existsSync(file), "reading creates nothing");
    const writer = ResultsWriter.open(empty);
    writer.append(record("/p/a.jpg", "<CAPTION>"));
    writer.append(record("/p/a.jpg", "<OPEN_VOCABULARY_DETECTION>", "a car"));
    writer.close();
    assert.throws(() => writer.append(record("/p/b.jpg", "<OD>")), /was closed/);
    const text = fs.readFileSync(file, "utf8");
    assert.ok(text.endsWith("}\n"));
    assert.equal(text.split("\n").length, 3);
    assert.ok(text.startsWith('{"file":"/p/a.jpg","task":"<CAPTION>",'), "file first, then task");
    const again = readResults(file, IDENTITY);
    assert.equal(again.records, 2);
    assert.ok(again.done.has(pairKey("/p/a.jpg", "<CAPTION>", undefined)));
    // The phrase is part of the pair: another phrase is another request; a region box is not (it follows the photo).
    assert.ok(again.done.has(pairKey("/p/a.jpg", "<OPEN_VOCABULARY_DETECTION>", "a car")));
    assert.ok(!again.done.has(pairKey("/p/a.jpg", "<OPEN_VOCABULARY_DETECTION>", "a dog")));
    assert.equal(pairKey("/p/a.jpg", "<REGION_TO_CATEGORY>", { x1: 0, y1: 0, x2: 5, y2: 5 }), pairKey("/p/a.jpg", "<REGION_TO_CATEGORY>", undefined));
  });

  it("removes a last line cut short by a kill mid-write, and nothing before it, so that its pair runs again", function () {
    const file = path.join(tmp, "results.jsonl");
    const whole = line(record("/p/a.jpg", "<CAPTION>")) + "\n" + line(record("/p/b.jpg", "<CAPTION>"));
    const cut = line(record("/p/c.jpg", "<CAPTION>")).slice(0, 57);
    fs.writeFileSync(file, whole + cut);
    const existing = readResults(file, IDENTITY);
    assert.deepEqual(existing.tail, { kind: "cut", offset: Buffer.byteLength(whole), bytes: Buffer.byteLength(cut) });
    assert.equal(existing.records, 2, "a blank line is allowed");
    assert.ok(!existing.done.has(pairKey("/p/c.jpg", "<CAPTION>", undefined)));
    assert.equal(fs.readFileSync(file, "utf8"), whole + cut, "reading changes nothing");
    const writer = ResultsWriter.open(existing);
    writer.append(record("/p/c.jpg", "<CAPTION>"));
    writer.close();
    assert.equal(fs.readFileSync(file, "utf8"), whole + line(record("/p/c.jpg", "<CAPTION>")));
  });

  it("keeps a whole last line that lacks its newline, and starts the next line after it", function () {
    const file = path.join(tmp, "results.jsonl");
    const first = JSON.stringify(record("/p/a.jpg", "<OD>"));
    fs.writeFileSync(file, first);
    const existing = readResults(file, IDENTITY);
    assert.deepEqual([existing.tail, existing.records], [{ kind: "unterminated" }, 1]);
    const writer = ResultsWriter.open(existing);
    writer.append(record("/p/b.jpg", "<OD>"));
    writer.close();
    assert.equal(fs.readFileSync(file, "utf8"), `${first}\n${line(record("/p/b.jpg", "<OD>"))}`);
  });

  it("reads a file larger than its read buffer, with lines across the buffer's edges", function () {
    const file = path.join(tmp, "results.jsonl");
    const big = record("/p/a.jpg", "<OCR>");
    big.text = "x".repeat(700_000); // two lines of 0.7 MB: the second crosses the 1 MiB read buffer
    fs.writeFileSync(file, line(big) + line({ ...big, file: "/p/b.jpg" }) + line(record("/p/c.jpg", "<OCR>")));
    const existing = readResults(file, IDENTITY);
    assert.deepEqual([existing.records, existing.tail.kind], [3, "none"]);
    for (const f of ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]) assert.ok(existing.done.has(pairKey(f, "<OCR>", undefined)), f);
  });

  it("refuses, changing nothing, a file that holds something else, even a single line without a newline", function () {
    const cases: [string, string, RegExp][] = [
      ["notes.jsonl", "my notes\nmore", /Line 1 of .*notes\.jsonl is not a result line of npm start --images/],
      ["other.jsonl", '{"id": 1}\n{"id": 2}\n', /Line 1 of .* is not a result line/],
      ["half.jsonl", `${line(record("/p/a.jpg", "<OD>"))}{"id": 3}\n${line(record("/p/b.jpg", "<OD>"))}`, /Line 2 of .* is not a result line/],
      ["tail.jsonl", `${line(record("/p/a.jpg", "<OD>"))}just text`, /Line 2 of .* is not a result line/],
    ];
    for (const [name, content, message] of cases) {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, content);
      assert.throws(() => readResults(file, IDENTITY), (e: Error) => e instanceof ResultsFileError && message.test(e.message) && /Give another --out file/.test(e.message), name);
      assert.equal(fs.readFileSync(file, "utf8"), content, `${name} unchanged`);
    }
    assert.throws(() => readResults(tmp, IDENTITY), /is not a file \(a folder\?\)/);
  });

  it("refuses to mix in results of another model, dtype or settings, naming both", function () {
    const file = path.join(tmp, "results.jsonl");
    fs.writeFileSync(file, line(record("/p/a.jpg", "<OD>")));
    const other: RunIdentity[] = [
      { ...IDENTITY, model: "onnx-community/Florence-2-large-ft" },
      { ...IDENTITY, dtype: "q8" },
      { ...IDENTITY, settings: { ...IDENTITY.settings, numBeams: 1 } },
      { ...IDENTITY, settings: { ...IDENTITY.settings, earlyStopping: true } },
    ];
    for (const identity of other) {
      assert.throws(
        () => readResults(file, identity),
        (e: Error) =>
          e instanceof ResultsFileError &&
          e.message.includes("holds results of onnx-community/Florence-2-base-ft fp32, num_beams=3, max_new_tokens=1024, early_stopping=False (line 1)") &&
          /Give another --out file, or the same model, dtype and settings to resume that run\./.test(e.message),
        JSON.stringify(identity),
      );
    }
    assert.equal(readResults(file, IDENTITY).records, 1);
  });
});
