/**
 * The walkthrough's photos: fetched once into `<cache>/samples/`, then read from there; offline they must be cached.
 * Served from 127.0.0.1 (the `url` option), so nothing here touches another host.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { HubError } from "../../src/hub";
import { photoCacheFile, walkthroughPhotoFile } from "../../src/walkthrough/photos";
import { WALKTHROUGH_PHOTOS } from "../../src/walkthrough/steps";

describe("walkthrough/photos: the walkthrough's photos, cached", function () {
  let tmp: string;
  let server: http.Server;
  let base: string;
  const requests: string[] = [];
  const photoBytes = Buffer.from("not really a jpeg, but bytes to cache");

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "walkthrough-photos-"));
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      if (req.url === "/sample2.jpg") res.end(photoBytes);
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  afterEach(() => delete process.env.HF_HUB_OFFLINE);

  it("keeps each photo under its own name in <cache>/samples", function () {
    assert.equal(photoCacheFile(WALKTHROUGH_PHOTOS.street, "/c"), path.join("/c", "samples", "sample.jpg"));
    assert.equal(photoCacheFile(WALKTHROUGH_PHOTOS.market, "/c"), path.join("/c", "samples", "sample2.jpg"));
  });

  it("downloads a task's photo once, saying so, and reads the cached file afterwards", async function () {
    const cacheDir = path.join(tmp, "cache");
    const log: string[] = [];
    const file = await walkthroughPhotoFile("<OCR_WITH_REGION>", { cacheDir, url: `${base}/sample2.jpg`, log: (l) => log.push(l) });
    assert.equal(file, path.join(cacheDir, "samples", "sample2.jpg"));
    assert.deepEqual(fs.readFileSync(file), photoBytes);
    assert.equal(log.length, 1);
    assert.match(log[0], /Fetching the walkthrough's photo sample2\.jpg \(Pike Place Market at night/);
    const again = await walkthroughPhotoFile("market", { cacheDir, url: `${base}/sample2.jpg`, log: (l) => log.push(l) });
    assert.equal(again, file);
    assert.deepEqual(requests, ["/sample2.jpg"], "one download");
    assert.equal(log.length, 1, "nothing to say the second time");
  });

  it("offline, uses the cache or says what to do", async function () {
    process.env.HF_HUB_OFFLINE = "1";
    const cacheDir = path.join(tmp, "offline-cache");
    await assert.rejects(
      walkthroughPhotoFile("street", { cacheDir, url: `${base}/sample.jpg` }),
      (e: Error) => e instanceof HubError && e.code === "OFFLINE_INCOMPLETE" && /sample\.jpg is not cached at .*set FLORENCE2_IMAGE/.test(e.message),
    );
    fs.mkdirSync(path.join(cacheDir, "samples"), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, "samples", "sample.jpg"), "cached");
    assert.equal(await walkthroughPhotoFile("<OD>", { cacheDir, url: `${base}/sample.jpg` }), path.join(cacheDir, "samples", "sample.jpg"));
  });

  it("names the host and the way round it when the download fails, leaving nothing in the cache", async function () {
    const cacheDir = path.join(tmp, "failing-cache");
    await assert.rejects(
      walkthroughPhotoFile("street", { cacheDir, url: `${base}/missing.jpg`, log: () => undefined, instead: "pass --image <file>" }),
      (e: Error) => e instanceof HubError && e.code === "NOT_FOUND" && /127\.0\.0\.1:\d+ answered HTTP 404 .* Or pass --image <file>\.$/.test(e.message),
    );
    assert.equal(fs.existsSync(path.join(cacheDir, "samples", "sample.jpg")), false);
  });
});
