/**
 * A small Hugging Face Hub on 127.0.0.1 for tests, in the Hub's URL layout, serving local folders as model
 * repositories:
 *
 *   GET  /api/models/{org}/{name}/revision/{rev}     model info with the commit `sha`
 *   GET  /api/models/{org}/{name}/tree/{rev}         file listing (recursive, paginated with a Link header)
 *   GET  /{org}/{name}/resolve/{rev}/{path}          small files directly (ETag = git blob id); LFS files as a
 *                                                    302 to /cdn/{sha256} with X-Linked-Etag / X-Linked-Size
 *   GET  /cdn/{sha256}                               file bytes, with Range support
 *
 * Errors carry the Hub's `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound). Faults can be
 * injected per file: a connection cut after N bytes, a flipped byte, a stall, an HTTP status, and what a hostile
 * server does: a body that never ends, one that trickles, a 206 for other bytes, a false Content-Length. The
 * listing can be rewritten (`editListing`), its next-page links sent elsewhere (`pageLinks`), the CDN moved to
 * another origin (`cdnBase`), and a repository can get a new commit (`pushCommit`) with the old ones still served.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

export interface HubRepoSpec {
  /** The folder served as the repository's files. */
  folder: string;
  /** Requires `Authorization: Bearer <token>`; without it the server answers 401 as the Hub does. */
  private?: boolean;
}

export interface HubServerOptions {
  /** The token private repos accept. */
  token?: string;
  /** Tree entries per page (the Hub uses 1000); small values exercise pagination. */
  pageSize?: number;
  /** Files at least this big, and every .onnx / .onnx_data file, are stored "in LFS". */
  lfsMinSize?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  kind: "api" | "resolve" | "cdn" | "other";
  /** The repository file a resolve or cdn request is for. */
  file?: string;
  range?: string;
  authorization?: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

export type Fault =
  | { kind: "cut"; file: string; afterBytes: number; times?: number }
  | { kind: "corrupt"; file: string; atByte: number }
  | { kind: "stall"; file: string; afterBytes: number }
  | { kind: "status"; file: string; status: number; times?: number }
  /** The file's bytes, then more bytes for as long as the client reads (no Content-Length). */
  | { kind: "endless"; file: string }
  /** One byte every `intervalMs`, the stall timer never firing. */
  | { kind: "trickle"; file: string; intervalMs: number }
  /** A 206 whose Content-Range starts at `start`, whatever was asked. */
  | { kind: "wrongRange"; file: string; start: number }
  /** The right bytes under a Content-Length of `length`. */
  | { kind: "contentLength"; file: string; length: number };

/** A tree entry as the Hub's API sends it. */
export interface TreeEntry {
  type: string;
  oid?: unknown;
  size?: unknown;
  path: string;
  lfs?: { oid?: unknown; size?: unknown; pointerSize?: number };
  xetHash?: string;
}

interface ServedFile {
  repo: string;
  path: string;
  content: Buffer;
  sha256: string;
  gitOid: string;
  lfs: boolean;
}

interface Repo {
  id: string;
  spec: HubRepoSpec;
  /** The head commit (`main`) and its files. */
  commit: string;
  files: Map<string, ServedFile>;
  /** Every commit still served, the head included. */
  commits: Map<string, Map<string, ServedFile>>;
}

export class HubTestServer {
  readonly requests: RequestRecord[] = [];
  private faults: (Fault & { used: number })[] = [];
  private readonly stallWaiters: (() => void)[] = [];
  private stalls = 0;
  private listingEdit: ((entry: TreeEntry) => TreeEntry) | null = null;
  /** Rewrites each next-page URL of the tree listing (e.g. to another origin). */
  pageLinks: ((next: URL) => string) | null = null;
  /** Where LFS files are redirected to (`<cdnBase>/cdn/<sha256>`); default this server. */
  cdnBase: string | null = null;
  /** A mirror that does not report commits: model info without `sha`. */
  hideCommit = false;
  /** When set, every API request is answered with a 302 to the same path under this base URL. */
  apiRedirectBase: string | null = null;
  /** Bytes sent by "endless" faults so far. */
  endlessBytes = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly repos: Map<string, Repo>,
    private readonly options: Required<HubServerOptions>,
  ) {}

  /** Starts a server on a free port of 127.0.0.1 serving `repos` (id -> folder). */
  static async start(repos: Record<string, HubRepoSpec>, options: HubServerOptions = {}): Promise<HubTestServer> {
    const opts: Required<HubServerOptions> = {
      token: options.token ?? "hf_testtoken",
      pageSize: options.pageSize ?? 1000,
      lfsMinSize: options.lfsMinSize ?? 1_000_000,
    };
    const loaded = new Map(Object.entries(repos).map(([id, spec]) => [id, loadRepo(id, spec, opts.lfsMinSize)]));
    let self: HubTestServer | undefined;
    const server = http.createServer((req, res) => self?.handle(req, res));
    self = new HubTestServer(server, loaded, opts);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  commitOf(repo: string): string {
    return this.repo(repo).commit;
  }

  /** The bytes the server holds for a repository file. */
  fileContent(repo: string, file: string): Buffer {
    const f = this.repo(repo).files.get(file);
    if (!f) throw new Error(`The test hub has no ${file} in ${repo}.`);
    return f.content;
  }

  isLfs(repo: string, file: string): boolean {
    return this.repo(repo).files.get(file)?.lfs ?? false;
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault, used: 0 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Rewrites every file entry of every tree listing from now on. */
  editListing(edit: (entry: TreeEntry) => TreeEntry): void {
    this.listingEdit = edit;
  }

  /**
   * Makes `folder`'s files the repository's new head commit; earlier commits stay available by their sha unless
   * `forgetOld` (a force-push whose old commits the server no longer has).
   */
  pushCommit(id: string, folder: string, forgetOld = false): string {
    const repo = this.repo(id);
    const next = loadRepo(id, { ...repo.spec, folder }, this.options.lfsMinSize);
    if (forgetOld) repo.commits.clear();
    repo.commits.set(next.commit, next.files);
    repo.commit = next.commit;
    repo.files = next.files;
    return next.commit;
  }

  /** Resolves once a "stall" fault has sent its bytes and the response hangs. */
  waitForStall(): Promise<void> {
    if (this.stalls > 0) return Promise.resolve();
    return new Promise((resolve) => this.stallWaiters.push(resolve));
  }

  /** Requests that carried file bytes for `file` (resolve of small files, cdn of LFS files). */
  contentRequests(file: string): RequestRecord[] {
    return this.requests.filter((r) => r.file === file && r.status < 300);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private repo(id: string): Repo {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`The test hub serves no repository ${id}.`);
    return repo;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const record: RequestRecord = {
      method: req.method ?? "GET",
      path: url.pathname,
      kind: "other",
      range: header(req, "range"),
      authorization: header(req, "authorization"),
      status: 0,
      bytes: 0,
    };
    this.requests.push(record);
    res.on("finish", () => (record.status = res.statusCode));
    res.on("close", () => (record.status ||= res.statusCode));
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] === "api" && parts[1] === "models") {
      record.kind = "api";
      if (this.apiRedirectBase) {
        res.writeHead(302, { Location: `${this.apiRedirectBase}${url.pathname}${url.search}` }).end();
        return;
      }
      this.handleApi(req, res, url, parts.slice(2));
    } else if (parts[0] === "cdn" && parts.length === 2) {
      record.kind = "cdn";
      this.handleCdn(req, res, parts[1], record);
    } else if (parts[2] === "resolve" && parts.length >= 5) {
      record.kind = "resolve";
      this.handleResolve(req, res, `${parts[0]}/${parts[1]}`, parts[3], parts.slice(4).join("/"), record);
    } else {
      sendJson(res, 404, { error: "Not found" });
    }
  }

  /** The repo when the request may see it; otherwise the Hub's answer has been sent and null is returned. */
  private authorize(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    id: string,
    revision: string,
  ): { repo: Repo; files: Map<string, ServedFile>; commit: string } | null {
    const auth = header(req, "authorization");
    const repo = this.repos.get(id);
    if (auth !== undefined && auth !== `Bearer ${this.options.token}`) {
      sendJson(res, 401, { error: "Invalid credentials in Authorization header" }, {
        "X-Error-Message": "Invalid credentials in Authorization header",
      });
      return null;
    }
    if (!repo || (repo.spec.private && auth === undefined)) {
      // The Hub does not tell unknown repositories from private ones to anonymous callers.
      sendJson(res, auth === undefined ? 401 : 404, { error: "Repository not found" }, {
        "X-Error-Code": "RepoNotFound",
        "X-Error-Message": "Repository not found",
      });
      return null;
    }
    const commit = revision === "main" ? repo.commit : revision;
    const files = repo.commits.get(commit);
    if (!files) {
      sendJson(res, 404, { error: `Invalid rev id: ${revision}` }, {
        "X-Error-Code": "RevisionNotFound",
        "X-Error-Message": `Invalid rev id: ${revision}`,
      });
      return null;
    }
    return { repo, files, commit };
  }

  private handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, parts: string[]): void {
    const [org, name, what, revision, ...rest] = parts;
    const found = this.authorize(req, res, `${org}/${name}`, revision ?? "");
    if (!found) return;
    const { repo, files, commit } = found;
    if (what === "revision") {
      sendJson(res, 200, {
        _id: crypto.createHash("md5").update(repo.id).digest("hex").slice(0, 24),
        id: repo.id,
        ...(this.hideCommit ? {} : { sha: commit }),
        private: !!repo.spec.private,
        gated: false,
        downloads: 0,
        likes: 0,
        lastModified: "2024-06-20T00:00:00.000Z",
        pipeline_tag: "image-text-to-text",
        siblings: [...files.keys()].map((rfilename) => ({ rfilename })),
      });
      return;
    }
    if (what === "tree") {
      this.sendTree(res, url, files, rest.join("/"));
      return;
    }
    sendJson(res, 404, { error: "Not found" });
  }

  private sendTree(res: http.ServerResponse, url: URL, files: Map<string, ServedFile>, under: string): void {
    const recursive = url.searchParams.get("recursive") === "true";
    const prefix = under ? `${under}/` : "";
    const entries: TreeEntry[] = [];
    const dirs = new Set<string>();
    for (const f of [...files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      if (!f.path.startsWith(prefix)) continue;
      const relative = f.path.slice(prefix.length);
      if (!recursive && relative.includes("/")) {
        dirs.add(prefix + relative.split("/")[0]);
        continue;
      }
      for (let i = relative.indexOf("/"); recursive && i >= 0; i = relative.indexOf("/", i + 1)) dirs.add(prefix + relative.slice(0, i));
      const entry: TreeEntry = {
        type: "file",
        oid: f.gitOid,
        size: f.content.length,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
      };
      entries.push(this.listingEdit ? this.listingEdit(entry) : entry);
    }
    const all = [...[...dirs].map((d) => ({ type: "directory", oid: sha1(d), size: 0, path: d })), ...entries];
    const cursor = Number(url.searchParams.get("cursor") ?? 0);
    const page = all.slice(cursor, cursor + this.options.pageSize);
    const headers: Record<string, string> = {};
    if (cursor + this.options.pageSize < all.length) {
      const next = new URL(url.href);
      next.searchParams.set("cursor", String(cursor + this.options.pageSize));
      headers.Link = `<${this.pageLinks ? this.pageLinks(next) : next.href}>; rel="next"`;
    }
    sendJson(res, 200, page, headers);
  }

  private handleResolve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    id: string,
    revision: string,
    filePath: string,
    record: RequestRecord,
  ): void {
    const found = this.authorize(req, res, id, revision);
    if (!found) return;
    const file = found.files.get(filePath);
    if (!file) {
      sendJson(res, 404, { error: "Entry not found" }, {
        "X-Error-Code": "EntryNotFound",
        "X-Error-Message": "Entry not found",
        "X-Repo-Commit": found.commit,
      });
      return;
    }
    record.file = file.path;
    if (file.lfs) {
      // As the Hub: a redirect to the CDN, with the LFS facts in headers (huggingface_hub reads these).
      res.writeHead(302, {
        Location: `${this.cdnBase ?? this.url}/cdn/${file.sha256}`,
        "X-Repo-Commit": found.commit,
        "X-Linked-Etag": `"${file.sha256}"`,
        "X-Linked-Size": String(file.content.length),
        ETag: `"${file.gitOid}"`,
      });
      res.end();
      return;
    }
    this.sendContent(req, res, file, { ETag: `"${file.gitOid}"`, "X-Repo-Commit": found.commit }, record);
  }

  private handleCdn(req: http.IncomingMessage, res: http.ServerResponse, sha256: string, record: RequestRecord): void {
    const file = [...this.repos.values()]
      .flatMap((r) => [...r.commits.values()].flatMap((files) => [...files.values()]))
      .find((f) => f.sha256 === sha256);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    record.file = file.path;
    this.sendContent(req, res, file, { ETag: `"${file.sha256}"` }, record);
  }

  private sendContent(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    file: ServedFile,
    headers: Record<string, string>,
    record: RequestRecord,
  ): void {
    const status = this.takeFault(file.path, "status");
    if (status) {
      sendJson(res, status.status, { error: "Injected failure" });
      return;
    }
    if (this.sendHostileBody(res, file, record)) return;
    const size = file.content.length;
    let start = 0;
    let end = size - 1;
    let code = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(header(req, "range") ?? "");
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      code = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    }
    const wrongRange = this.takeFault(file.path, "wrongRange");
    if (wrongRange) {
      code = 206;
      start = wrongRange.start;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    }
    let body = Buffer.from(file.content.subarray(start, end + 1));
    for (const corrupt of this.faults.filter((f) => f.file === file.path && f.kind === "corrupt")) {
      const at = (corrupt as { atByte: number }).atByte - start;
      if (at >= 0 && at < body.length) body[at] ^= 0xff;
    }
    const declared = this.takeFault(file.path, "contentLength");
    res.writeHead(code, {
      ...headers,
      "Accept-Ranges": "bytes",
      "Content-Length": String(declared ? declared.length : body.length),
      "Content-Type": "application/octet-stream",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const cut = this.takeFault(file.path, "cut");
    const stall = this.takeFault(file.path, "stall");
    const stop = cut ?? stall;
    if (stop) {
      const part = body.subarray(0, Math.max(0, stop.afterBytes - start));
      record.bytes = part.length;
      res.write(part, () => {
        if (cut) res.socket?.end();
        else this.notifyStall();
      });
      return;
    }
    record.bytes = body.length;
    res.end(body);
  }

  /** The "endless" and "trickle" faults: true when one of them answers this request. */
  private sendHostileBody(res: http.ServerResponse, file: ServedFile, record: RequestRecord): boolean {
    const endless = this.takeFault(file.path, "endless");
    if (endless) {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        let more = true;
        while (more && !res.destroyed) {
          more = res.write(chunk);
          record.bytes += chunk.length;
          this.endlessBytes += chunk.length;
        }
        if (!res.destroyed) res.once("drain", pump);
      };
      res.write(file.content);
      pump();
      return true;
    }
    const trickle = this.takeFault(file.path, "trickle");
    if (trickle) {
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(file.content.length) });
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed || sent >= file.content.length) {
          clearInterval(timer);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(file.content.subarray(sent, sent + 1));
        sent += 1;
        record.bytes = sent;
      }, trickle.intervalMs);
      res.on("close", () => clearInterval(timer));
      return true;
    }
    return false;
  }

  private takeFault<K extends Fault["kind"]>(file: string, kind: K): Extract<Fault, { kind: K }> | undefined {
    const fault = this.faults.find((f) => f.file === file && f.kind === kind);
    if (!fault) return undefined;
    fault.used += 1;
    const sticky = kind === "stall" || kind === "endless" || kind === "trickle" || kind === "wrongRange";
    const times = "times" in fault && fault.times !== undefined ? fault.times : sticky ? Infinity : 1;
    if (fault.used >= times) this.faults = this.faults.filter((f) => f !== fault);
    return fault as unknown as Extract<Fault, { kind: K }>;
  }

  private notifyStall(): void {
    this.stalls += 1;
    for (const resolve of this.stallWaiters.splice(0)) resolve();
  }
}

function loadRepo(id: string, spec: HubRepoSpec, lfsMinSize: number): Repo {
  const files = new Map<string, ServedFile>();
  for (const relative of listFilesRecursively(spec.folder)) {
    const content = fs.readFileSync(path.join(spec.folder, relative));
    const lfs = /\.onnx(_data(_\d+)?)?$/.test(relative) || content.length >= lfsMinSize;
    files.set(relative, {
      repo: id,
      path: relative,
      content,
      sha256: crypto.createHash("sha256").update(content).digest("hex"),
      gitOid: crypto.createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex"),
      lfs,
    });
  }
  const commit = sha1(`${id}\n${[...files.values()].map((f) => `${f.path}:${f.gitOid}`).join("\n")}`);
  return { id, spec, commit, files, commits: new Map([[commit, files]]) };
}

/** Relative paths with "/" separators, skipping hidden files (the cache's own bookkeeping, if any). */
function listFilesRecursively(folder: string, under = ""): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(folder, under), { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const relative = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFilesRecursively(folder, relative));
    else if (entry.isFile()) out.push(relative);
  }
  return out;
}

function sha1(text: string): string {
  return crypto.createHash("sha1").update(text).digest("hex");
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)) });
  res.end(text);
}
