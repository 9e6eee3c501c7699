/**
 * The parent's handle on a benchmark child process (child.ts): fork, one request at a time, close.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import type {
  LoadRequest,
  LoadResult,
  ProbeRequest,
  ProbeResult,
  Request,
  Response,
  RunRequest,
  ManyRequest,
  ManyResult,
  RunResult,
  SequenceRequest,
  SequenceResult,
  SoakRequest,
  SoakResult,
} from "./protocol";

const CHILD_ENTRY = path.join(__dirname, "child.ts");

export interface ChildOptions {
  /** Extra node flags, e.g. ["--cpu-prof", "--cpu-prof-dir=..."] to profile the child. */
  nodeFlags?: readonly string[];
}

export class BenchChild {
  private readonly child: ChildProcess;
  private exited: Promise<void>;
  private busy = false;

  constructor(options: ChildOptions = {}) {
    // tsx runs the TypeScript child the same way it runs the benchmark itself.
    this.child = fork(CHILD_ENTRY, [], {
      execArgv: ["--import", "tsx", ...(options.nodeFlags ?? [])],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  private request<T>(request: Request): Promise<T> {
    if (this.busy) throw new Error("A benchmark child answers one request at a time.");
    this.busy = true;
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`The benchmark child exited (code ${code}, signal ${signal}) while handling a ${request.kind} request.`));
      this.child.once("exit", onExit);
      this.child.once("message", (response: Response) => {
        this.child.off("exit", onExit);
        this.busy = false;
        if (response.ok) resolve(response.value as T);
        else reject(new Error(`Benchmark child failed on ${request.kind}: ${response.error}`));
      });
      this.child.send(request);
    });
  }

  load(request: Omit<LoadRequest, "kind">): Promise<LoadResult> {
    return this.request({ kind: "load", ...request });
  }
  run(request: Omit<RunRequest, "kind">): Promise<RunResult> {
    return this.request({ kind: "run", ...request });
  }
  sequence(request: Omit<SequenceRequest, "kind">): Promise<SequenceResult> {
    return this.request({ kind: "sequence", ...request });
  }
  many(request: Omit<ManyRequest, "kind">): Promise<ManyResult> {
    return this.request({ kind: "many", ...request });
  }
  soak(request: Omit<SoakRequest, "kind">): Promise<SoakResult> {
    return this.request({ kind: "soak", ...request });
  }
  probe(request: Omit<ProbeRequest, "kind">): Promise<ProbeResult> {
    return this.request({ kind: "probe", ...request });
  }

  /** Disconnects; the child disposes its side and exits (waits for it, so profiles are written). */
  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }
}
