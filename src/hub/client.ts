/**
 * The Hub's JSON API through @huggingface/hub (`modelInfo` for the commit, `listFiles` for the tree with its
 * pagination). Its `fetch` hook lets this class turn network failures and HTTP errors into messages that name
 * the host, the repo and the fix (the library's own errors carry only a status and a URL), and keeps every
 * request on the endpoint's origin: listFiles follows the `Link: rel="next"` header wherever it points, with
 * the token attached (added here), so a next page on another origin is refused here. Redirects are fetch's: it drops
 * `Authorization` when one leaves the origin, as the Fetch standard says.
 */
import { HubApiError, listFiles, modelInfo } from "@huggingface/hub";
import { HubError, httpError, networkError } from "./errors";
import { remoteFile, type RemoteFile } from "./listing";
import type { Settings } from "./settings";

export class HubClient {
  private lastError: { code: string | null; message: string | null } = { code: null, message: null };
  constructor(private readonly s: Settings) {
    warnOfTokenOverHttp(s);
  }

  async commitOf(revision: string): Promise<string> {
    const info = await this.call(() =>
      modelInfo({
        name: this.s.repo,
        revision,
        hubUrl: this.s.endpoint,
        fetch: this.fetch,
        additionalFields: ["sha"],
      }),
    );
    // A mirror that does not report the commit: download from the revision itself.
    return typeof info.sha === "string" && /^[0-9a-f]{40}$/.test(info.sha) ? info.sha : revision;
  }

  async listing(commit: string): Promise<RemoteFile[]> {
    return this.call(async () => {
      const files: RemoteFile[] = [];
      const entries = listFiles({
        repo: { type: "model", name: this.s.repo },
        // listFiles puts the revision in the URL as it is: fine for a commit hash, not for "refs/pr/1".
        revision: /^[0-9a-f]{40}$/.test(commit) ? commit : encodeURIComponent(commit),
        recursive: true,
        hubUrl: this.s.endpoint,
        fetch: this.fetch,
      });
      for await (const entry of entries) {
        if (entry.type !== "file") continue;
        files.push(remoteFile(entry, this.s));
      }
      return files;
    });
  }

  private readonly fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).origin !== new URL(this.s.endpoint).origin) throw this.foreignPage(url);
    // The token goes in here, not through the library's accessToken, which refuses any token not starting with "hf_"
    // (a mirror behind HF_ENDPOINT may issue its own form); the origin check above keeps it on the endpoint.
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (this.s.token) headers.set("Authorization", `Bearer ${this.s.token}`);
    let res: Response;
    try {
      res = await fetch(input, { ...init, headers, signal: this.s.signal });
    } catch (err) {
      this.s.signal?.throwIfAborted();
      throw networkError(url, err, this.s);
    }
    if (!res.ok) {
      this.lastError = { code: res.headers.get("x-error-code"), message: res.headers.get("x-error-message") };
    }
    return res;
  };

  private foreignPage(url: string): HubError {
    const host = new URL(this.s.endpoint).host;
    return new HubError(
      "HTTP",
      `${host} sent the listing of ${this.s.repo} with its next page on another origin (${new URL(url).origin}); ` +
        `it was not requested, so that nothing (HF_TOKEN included) goes to a host other than HF_ENDPOINT's. ` +
        `If HF_ENDPOINT points to a mirror, it is misconfigured; otherwise try again later.`,
    );
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof HubError) throw err;
      this.s.signal?.throwIfAborted();
      if (err instanceof HubApiError) {
        throw httpError(err.statusCode, this.lastError.code, this.lastError.message ?? err.message, this.s);
      }
      // A mirror that answers with something other than the Hub's JSON.
      throw new HubError(
        "HTTP",
        `${new URL(this.s.endpoint).host} gave an unexpected answer for ${this.s.repo}: ${(err as Error)?.message ?? err}.`,
      );
    }
  }
}

const warnedOrigins = new Set<string>();

/** A token sent over plain http can be read on the way: said once per endpoint and process. */
function warnOfTokenOverHttp(s: Settings): void {
  const origin = new URL(s.endpoint).origin;
  if (!s.token || !origin.startsWith("http:") || warnedOrigins.has(origin)) return;
  warnedOrigins.add(origin);
  process.emitWarning(
    `The Hugging Face token (${s.tokenSource}) is sent to ${origin}, a plain http endpoint ` +
      `(HF_ENDPOINT): anyone on the way can read it. Use an https:// endpoint, or no token for public models.`,
    { code: "FLORENCE2_TOKEN_OVER_HTTP" },
  );
}
