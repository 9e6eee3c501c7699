/**
 * hub/client: HF_TOKEN goes only to the endpoint's own origin. A listing whose next page is on another origin
 * is refused; a redirect to another origin (the Hub's CDN) loses the Authorization header; a token sent to an
 * http:// endpoint is warned about once. Two servers on 127.0.0.1: the Hub, and another origin (another port).
 */
import { strict as assert } from "node:assert";
import { resolveModelFolder } from "../../src/hub/index";
import { HubTestServer } from "../support/hub-server";
import { PRIVATE_REPO, REPO, TOKEN, rejectsWith, useHubFixture } from "../support/hub-fixture";

describe("hub/client: the token stays with the endpoint's origin", function () {
  this.timeout(60000);
  const f = useHubFixture();
  let other: HubTestServer;
  let warnings: Error[];
  const onWarning = (w: Error) => warnings.push(w);

  beforeEach(async () => {
    other = await HubTestServer.start({ [REPO]: { folder: f.source }, [PRIVATE_REPO]: { folder: f.source, private: true } }, { token: TOKEN });
    warnings = [];
    process.on("warning", onWarning);
  });
  afterEach(async () => {
    process.off("warning", onWarning);
    await other.close();
  });

  it("refuses a next-page link to another origin, and sends that origin nothing", async function () {
    process.env.HF_TOKEN = TOKEN;
    f.server.pageLinks = (next) => `${other.url}${next.pathname}${next.search}`;
    const outcome = resolveModelFolder(PRIVATE_REPO, f.opts());
    await outcome.catch(() => undefined);
    const leaked = other.requests.map((r) => `${r.path} with Authorization ${r.authorization}`);
    assert.deepEqual(leaked, [], "the other origin got no request, so no token");
    await rejectsWith(outcome, "HTTP", "next page", new URL(other.url).host, "HF_ENDPOINT");
    delete process.env.HF_TOKEN;
    await rejectsWith(resolveModelFolder(REPO, f.opts()), "HTTP", "next page");
    assert.deepEqual(other.requests, []);
  });

  it("follows a same-origin next-page link with the token", async function () {
    process.env.HF_TOKEN = TOKEN;
    await resolveModelFolder(PRIVATE_REPO, f.opts());
    const pages = f.server.requests.filter((r) => r.path.includes("/tree/"));
    assert.ok(pages.length > 1);
    for (const page of pages) assert.equal(page.authorization, `Bearer ${TOKEN}`);
  });

  it("drops Authorization when the Hub redirects a file to a CDN on another origin", async function () {
    process.env.HF_TOKEN = TOKEN;
    f.server.cdnBase = other.url;
    const folder = await resolveModelFolder(PRIVATE_REPO, f.opts());
    f.assertSameBytes(folder, ["onnx/decoder_model_merged.onnx_data"]);
    const cdn = other.requests.filter((r) => r.kind === "cdn");
    assert.ok(cdn.length > 0, "the large files came from the other origin");
    for (const r of cdn) assert.equal(r.authorization, undefined, r.path);
    for (const r of f.server.requests) assert.equal(r.authorization, `Bearer ${TOKEN}`, r.path);
  });

  it("drops Authorization when an API request is redirected to another origin", async function () {
    process.env.HF_TOKEN = TOKEN;
    f.server.apiRedirectBase = other.url;
    await resolveModelFolder(REPO, f.opts()).catch(() => undefined);
    assert.ok(other.requests.length > 0, "the redirect was followed");
    for (const r of other.requests) assert.equal(r.authorization, undefined, r.path);
  });

  it("warns once per endpoint when a token goes to an http:// endpoint, and not without a token", async function () {
    await resolveModelFolder(REPO, f.opts());
    assert.equal(warnings.length, 0, "no token, no warning");
    process.env.HF_TOKEN = TOKEN;
    await resolveModelFolder(PRIVATE_REPO, f.opts());
    await resolveModelFolder(PRIVATE_REPO, f.opts({ dtype: "q8" }));
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.equal(warnings.length, 1, warnings.map((w) => w.message).join("\n"));
    assert.match(warnings[0].message, new RegExp(`token .*${f.server.url.replace(/[.]/g, "\\.")}.*plain http`));
  });
});
