/**
 * hub/download-to-file: downloadToFile (the walkthrough's sample photo) against a plain HTTP server on 127.0.0.1:
 * a file appears only complete, a body over maxBytes is refused (from its Content-Length, or as it arrives), and
 * a body that stops arriving is a network timeout, not a cache write error.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { downloadToFile } from "../../src/hub/index";
import { sendEndless } from "../support/endless-body";
import { rejectsWith } from "../support/hub-fixture";

const PHOTO = Buffer.from("not really a photo, but bytes all the same\n".repeat(100));

describe("hub/download-to-file: a plain URL to a file", function () {
  this.timeout(30000);
  let server: http.Server;
  let base = "";
  let dir: string;
  const endless = { sent: 0 };
  let requests = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      requests += 1;
      if (req.url === "/photo.jpg") {
        res.writeHead(200, { "Content-Length": String(PHOTO.length) }).end(PHOTO);
      } else if (req.url === "/endless.jpg") {
        res.writeHead(200);
        sendEndless(res, Buffer.alloc(64 * 1024, 0x62), endless);
      } else if (req.url === "/announces-300MiB.jpg") {
        res.writeHead(200, { "Content-Length": String(300 * 2 ** 20) }).flushHeaders(); // then nothing
      } else if (req.url === "/stops.jpg") {
        res.writeHead(200, { "Content-Length": String(PHOTO.length) }).write(PHOTO.subarray(0, 100)); // then nothing
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-download-"));
    endless.sent = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** `promise`, or a failure once `ms` have passed (code without the limit would keep reading). */
  function within<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)));
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  it("downloads once, and keeps an existing file without a request", async () => {
    const file = path.join(dir, "samples", "photo.jpg");
    assert.equal(await downloadToFile(`${base}/photo.jpg`, file), file);
    assert.ok(fs.readFileSync(file).equals(PHOTO));
    const before = requests;
    assert.equal(await downloadToFile(`${base}/photo.jpg`, file), file);
    assert.equal(requests, before);
  });

  it("stops a body as soon as it passes maxBytes, and keeps nothing", async () => {
    const file = path.join(dir, "endless.jpg");
    const outcome = downloadToFile(`${base}/endless.jpg`, file, { maxBytes: 2 ** 20 });
    await rejectsWith(within(outcome, 10_000), "HTTP", "endless.jpg", "more than maxBytes = 1,048,576 bytes (1 MiB)");
    assert.ok(endless.sent < 32 * 2 ** 20, `${endless.sent} bytes were sent`);
    assert.deepEqual(fs.readdirSync(dir), [], "no file and no temporary file");
  });

  it("refuses a Content-Length over the default maxBytes (256 MiB) before reading the body", async () => {
    const outcome = downloadToFile(`${base}/announces-300MiB.jpg`, path.join(dir, "big.jpg"), { timeoutMs: 5000 });
    await rejectsWith(within(outcome, 4000), "HTTP", "Content-Length is 314,572,800 bytes", "maxBytes = 268,435,456 bytes (256 MiB)");
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it("a body that stops arriving is a network timeout (timeoutMs), not a cache write error", async () => {
    await rejectsWith(downloadToFile(`${base}/stops.jpg`, path.join(dir, "stops.jpg"), { timeoutMs: 300 }), "NETWORK", "no complete answer within 300 ms");
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it("a 404 names the host and the URL", async () => {
    await rejectsWith(downloadToFile(`${base}/missing.jpg`, path.join(dir, "x.jpg")), "NOT_FOUND", "HTTP 404", `${base}/missing.jpg`);
  });
});
