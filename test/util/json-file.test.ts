import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readJsonObject, readJsonObjectOrUndefined } from "../../src/util/json-file";

describe("json-file", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "f2-json-file-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };

  it("reads a JSON object", () => {
    assert.deepEqual(readJsonObject(write("a.json", '{"d_model": 768, "nested": {"x": [1]}}'), "Fix it."), { d_model: 768, nested: { x: [1] } });
  });

  it("names the file, what is wrong and the caller's fix", () => {
    const missing = path.join(dir, "missing.json");
    const rows: [string, RegExp][] = [
      [missing, new RegExp(`^Error: Cannot read ${missing}: there is no such file\\. Download it again\\.$`)],
      [dir, /: it is a folder\. Download it again\.$/],
      [write("cut.json", '{"a": 1'), /cut\.json is not valid JSON \(.+\): the file is corrupt or truncated\. Download it again\.$/],
      [write("array.json", "[1, 2]"), /^Error: Expected a JSON object in .*array\.json but found an array of length 2: it is not the file it should be\. Download it again\.$/],
      [write("null.json", "null"), /but found null/],
      [write("number.json", "42"), /but found 42/],
    ];
    for (const [file, message] of rows) assert.throws(() => readJsonObject(file, "Download it again."), message, file);
  });

  it("gives undefined instead of an error where the caller handles a missing or damaged file", () => {
    assert.deepEqual(readJsonObjectOrUndefined(write("ok.json", '{"a": 1}')), { a: 1 });
    assert.equal(readJsonObjectOrUndefined(path.join(dir, "missing.json")), undefined);
    assert.equal(readJsonObjectOrUndefined(write("cut.json", "{")), undefined);
    assert.equal(readJsonObjectOrUndefined(write("array.json", "[]")), undefined);
  });
});
