/**
 * What --images runs on: a folder's image files by extension (sorted, not its subfolders or hidden files), files
 * named on their own whatever their extension, each once by absolute path, and clear errors for a wrong path or
 * nothing to run on.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { IMAGE_EXTENSIONS, ImageFilesError, listImageFiles } from "../../src/walkthrough/image-files";

describe("walkthrough/image-files: the photos of --images", function () {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "image-files-"));
    const touch = (name: string) => fs.writeFileSync(path.join(tmp, name), "x");
    fs.mkdirSync(path.join(tmp, "photos", "sub"), { recursive: true });
    for (const name of ["photos/b.JPG", "photos/a.png", "photos/c.webp", "photos/d.tiff", "photos/notes.txt", "photos/.hidden.jpg", "photos/sub/e.jpg", "other.bin"]) touch(name);
    fs.symlinkSync(path.join(tmp, "other.bin"), path.join(tmp, "photos", "link.jpg"));
    fs.mkdirSync(path.join(tmp, "empty"));
    fs.writeFileSync(path.join(tmp, "empty", "readme.md"), "x");
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("lists a folder's image files by extension, sorted by name, without hidden files or subfolders, and says what it passed over", function () {
    const { files, ignored } = listImageFiles(["photos"], tmp);
    const folder = path.join(tmp, "photos");
    assert.deepEqual(files, ["a.png", "b.JPG", "c.webp", "d.tiff", "link.jpg"].map((n) => path.join(folder, n)));
    assert.deepEqual(ignored, [path.join(folder, "notes.txt")]);
    assert.deepEqual(IMAGE_EXTENSIONS, [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff"]);
  });

  it("takes files named on their own whatever their extension, in the order given, each once, as absolute paths", function () {
    const { files } = listImageFiles(["other.bin", "photos", path.join(tmp, "photos", "a.png"), "./photos/b.JPG"], tmp);
    assert.equal(files[0], path.join(tmp, "other.bin"));
    assert.equal(files.length, 6, "a.png and b.JPG listed once");
    assert.ok(files.every((f) => path.isAbsolute(f)));
  });

  it("stops with a clear error for a path that does not exist, or when there is nothing to run on", function () {
    assert.throws(() => listImageFiles(["photos", "nope"], tmp), (e: Error) => e instanceof ImageFilesError && /there is no file or folder "nope" \(looked at .*nope\)\. Check the path\./.test(e.message));
    assert.throws(
      () => listImageFiles(["empty"], tmp),
      (e: Error) => e instanceof ImageFilesError && /no image files in "empty" \(looked for \.jpg .* not in subfolders\); passed over 1 other file, e\.g\. readme\.md\./.test(e.message),
    );
  });
});
