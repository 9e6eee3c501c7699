/**
 * `npm start -- --images ... --shard K/N` and a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with --shards N: the
 * messages for wrong values, a split that does not depend on the order of the photos or on photos added later, and,
 * on the tiny stand-in, shards whose results files are disjoint and together hold what one unsharded run writes.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UsageError, parseWalkthroughArgs, type ImagesOptions } from "../../src/walkthrough/cli";
import { listImageFiles } from "../../src/walkthrough/image-files";
import { runImages } from "../../src/walkthrough/images-run";
import type { ResultRecord } from "../../src/walkthrough/results-file";
import { resolveShard, shardOfKey, shardResultsFile } from "../../src/walkthrough/shards";
import { writeTestImage } from "../support/images";
import { writeStandInModel } from "../support/standin";

function imagesOptions(args: string[], env: NodeJS.ProcessEnv = {}): ImagesOptions {
  const options = parseWalkthroughArgs(args, env);
  assert.ok(options && options.mode === "images");
  return options;
}

function usageError(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(() => parseWalkthroughArgs(args, env), (err: Error) => {
    assert.ok(err instanceof UsageError, `a UsageError: ${err.stack}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe("walkthrough/shards: --shard K/N and JOB_COMPLETION_INDEX", function () {
  const base = ["--images", "photos", "--out", "out/results.jsonl"];

  it("takes --shard K/N, or JOB_COMPLETION_INDEX (from 0) with --shards N, and gives each shard its own results file", function () {
    const a = imagesOptions([...base, "--shard", "2/3"]);
    assert.deepEqual(a.shard, { index: 2, count: 3, from: "--shard" });
    assert.equal(a.resultsFile, path.resolve("out/results.shard-2-of-3.jsonl"));
    const b = imagesOptions([...base, "--shards", "3"], { JOB_COMPLETION_INDEX: "1" });
    assert.deepEqual(b.shard, { index: 2, count: 3, from: "JOB_COMPLETION_INDEX" });
    assert.equal(b.resultsFile, a.resultsFile);
    // Both, agreeing (a manifest that spells out the shard as well).
    assert.deepEqual(imagesOptions([...base, "--shard", "2/3"], { JOB_COMPLETION_INDEX: "1" }).shard?.index, 2);
    assert.equal(imagesOptions(base).shard, undefined);
    assert.equal(imagesOptions(base).resultsFile, path.resolve("out/results.jsonl"));
  });

  it("refuses wrong values, saying what was wrong and what to give", function () {
    usageError([...base, "--shard", "0/3"], {}, /Expected --shard K\/N with K from 1 to N but received "0\/3": shards are numbered 1 to 3 \(JOB_COMPLETION_INDEX counts from 0/);
    usageError([...base, "--shard", "4/3"], {}, /K from 1 to N but received "4\/3": shards are numbered 1 to 3\.$/);
    usageError([...base, "--shard", "a/b"], {}, /Expected --shard K\/N with whole numbers, e\.g\. --shard 2\/4 .* but received "a\/b"/);
    usageError([...base, "--shard", "1/0"], {}, /at least 1 shard .* received "1\/0"/);
    usageError([...base, "--shards", "0"], { JOB_COMPLETION_INDEX: "0" }, /positive whole number of shards for --shards .* received "0"/);
    usageError([...base, "--shard", "1/3", "--shards", "4"], {}, /--shard 1\/3 and --shards 4 disagree on the number of shards/);
    usageError([...base, "--shard", "2/3"], { JOB_COMPLETION_INDEX: "0" }, /--shard 2\/3 and JOB_COMPLETION_INDEX=0 \(shard 1\/3\) disagree/);
    usageError(base, { JOB_COMPLETION_INDEX: "2" }, /JOB_COMPLETION_INDEX is set \(2: a Kubernetes Indexed Job\), but not the number of shards: Kubernetes does not pass the Job's completions/);
    usageError([...base, "--shards", "3"], { JOB_COMPLETION_INDEX: "3" }, /JOB_COMPLETION_INDEX is 3, but 3 shards have the indexes 0 to 2/);
    usageError([...base, "--shards", "3"], { JOB_COMPLETION_INDEX: "x" }, /Expected JOB_COMPLETION_INDEX to be a whole number .* "x"/);
    usageError([...base, "--shards", "3"], {}, /--shards 3 takes this copy's index from JOB_COMPLETION_INDEX .* which is not set: give --shard K\/N/);
    usageError(["--shard", "1/2"], {}, /the walkthrough has no photos to split/);
  });

  it("splits by the photo's path alone: every photo in exactly one shard, whatever the order, and added photos move none", function () {
    const names = Array.from({ length: 200 }, (_, i) => `IMG_${String(i).padStart(4, "0")}.jpg`);
    const shardOf = (list: string[], count: number) => new Map(list.map((n) => [n, shardOfKey(n, count)]));
    const forward = shardOf(names, 4);
    const backward = shardOf([...names].reverse(), 4);
    for (const n of names) assert.equal(forward.get(n), backward.get(n));
    const withMore = shardOf([...names, ...Array.from({ length: 50 }, (_, i) => `later_${i}.png`)], 4);
    for (const n of names) assert.equal(withMore.get(n), forward.get(n), `${n} stays in its shard`);
    const sizes = [1, 2, 3, 4].map((k) => names.filter((n) => forward.get(n) === k).length);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 200);
    for (const size of sizes) assert.ok(size > 25 && size < 75, `shard sizes ${sizes} are near 50 each`);
    // The key is the path relative to the folder listed, so a collection mounted elsewhere splits the same way.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "shards-keys-"));
    try {
      for (const dir of ["a", "b"]) {
        fs.mkdirSync(path.join(tmp, dir, "photos"), { recursive: true });
        fs.writeFileSync(path.join(tmp, dir, "photos", "x.jpg"), "");
      }
      assert.deepEqual(listImageFiles([path.join(tmp, "a", "photos")]).keys, listImageFiles([path.join(tmp, "b", "photos")]).keys);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    assert.equal(shardResultsFile("/r/x.jsonl", { index: 1, count: 2, from: "--shard" }), "/r/x.shard-1-of-2.jsonl");
    assert.equal(resolveShard(undefined, undefined, {}), undefined);
  });

  describe("on the tiny stand-in", function () {
    this.timeout(300_000);
    let tmp: string;
    let modelFolder: string;
    let photos: string;

    before(async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "shards-run-"));
      modelFolder = path.join(tmp, "model");
      await writeStandInModel(modelFolder);
      photos = path.join(tmp, "photos");
      fs.mkdirSync(photos);
      for (let i = 0; i < 7; i++) {
        await writeTestImage({ width: 40 + 8 * i, height: 32 + 4 * i, pattern: "noise", seed: i + 1, format: "png", dir: photos, name: `p${i}.png` });
      }
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const args = (out: string, extra: string[] = []) =>
      ["--model", modelFolder, "--images", photos, "--tasks", "CAPTION,OD", "--num-beams", "1", "--max-new-tokens", "8", "--out", out, "--quiet", ...extra];
    const quiet = { write: () => undefined, stderr: { isTTY: false, write: () => true } };
    const records = (file: string): ResultRecord[] =>
      fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as ResultRecord) : [];
    /** What a line says about its photo and task, without the timings (they depend on the batch it ran in). */
    const content = (r: ResultRecord) => JSON.stringify([r.file, r.task, r.input ?? null, r.image, r.result, r.text, r.model, r.dtype, r.settings]);

    it("writes disjoint shard files that together equal one unsharded run, and each resumes on its own", async function () {
      const whole = path.join(tmp, "whole.jsonl");
      await runImages(imagesOptions(args(whole)), quiet);
      const expected = records(whole);
      assert.equal(expected.length, 14);

      const out = path.join(tmp, "sharded.jsonl");
      const perShard: ResultRecord[][] = [];
      for (let k = 1; k <= 3; k++) {
        const options = imagesOptions(args(out, ["--shards", "3"]), { JOB_COMPLETION_INDEX: String(k - 1) });
        const summary = await runImages(options, quiet);
        perShard.push(records(options.resultsFile));
        assert.equal(summary.written, perShard[k - 1].length);
      }
      assert.ok(perShard.filter((r) => r.length > 0).length >= 2, `the 7 photos fall in more than one shard: ${perShard.map((r) => r.length)}`);
      const files = perShard.map((rs) => new Set(rs.map((r) => r.file)));
      for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) for (const f of files[a]) assert.ok(!files[b].has(f), `${f} in one shard only`);
      const joined = perShard.flat();
      assert.deepEqual(joined.map(content).sort(), expected.map(content).sort());
      const scoreOf = new Map(expected.map((r) => [`${r.file} ${r.task}`, r.score]));
      for (const r of joined) assert.equal(r.score, scoreOf.get(`${r.file} ${r.task}`)); // greedy: null

      // A shard run again, by --shard this time: nothing to do, its file unchanged.
      const k = perShard.findIndex((r) => r.length > 0) + 1;
      const second = imagesOptions(args(out, ["--shard", `${k}/3`]));
      const before = fs.readFileSync(second.resultsFile, "utf8");
      const again = await runImages(second, quiet);
      assert.deepEqual([again.written, again.alreadyDone], [0, perShard[k - 1].length]);
      assert.equal(fs.readFileSync(second.resultsFile, "utf8"), before);
    });
  });
});
