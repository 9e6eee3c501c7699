/**
 * The Hub's JSON API through @huggingface/hub (`modelInfo` for the commit, `listFiles` for the tree with its
 * pagination). Its `fetch` hook lets this class turn network failures and HTTP errors into messages that name
 * the host, the repo and the fix; the library's own errors carry only a status and a URL.
 */
import { HubApiError, listFiles, modelInfo } from "@huggingface/hub";
import { HubError, httpError, networkError } from "./errors";
import { remoteFile, type RemoteFile } from "./listing";
import type { Settings } from "./settings";

export class HubClient {
  private lastError: { code: string | null; message: string | null } = { code: null, message: null };
  constructor(private readonly s: Settings) {}

  async commitOf(revision: string): Promise<string> {
    const info = await this.call(() =>
      modelInfo({
        name: this.s.repo,
        revision,
        hubUrl: this.s.endpoint,
        accessToken: this.s.token,
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
        accessToken: this.s.token,
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
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (err) {
      throw networkError(url, err, this.s);
    }
    if (!res.ok) {
      this.lastError = { code: res.headers.get("x-error-code"), message: res.headers.get("x-error-message") };
    }
    return res;
  };

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof HubError) throw err;
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
