/**
 * The JSON Lines file of `npm start -- --images`: one line per photo and task, appended as each batch ends, so that
 * a run stopped at any point (Ctrl-C, a crash, a kill) leaves a file of whole lines, and the same command resumes it.
 *
 * Before a run the file is read through: every line must be one of this command's result lines, from the same
 * model, dtype and generation settings (results of another model are never mixed in); the pairs of photo and task
 * in it are skipped. A last line cut short by a kill mid-write (no newline, not valid JSON, but the start of a
 * result line) is removed, and that pair runs again. Nothing else in the file is ever changed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { PixelBox, RunTimings, TaskResult } from "../index";
import { settingsLine, type GenerationSettings } from "./steps";

/** What a result depends on besides the photo and the task: lines of another identity are never mixed in. */
export interface RunIdentity {
  /** The Hub id or folder the model came from (for a stand-in, a fixed name saying so). */
  model: string;
  dtype: string;
  settings: GenerationSettings;
}

/** This request's share of its batch's time, in milliseconds (see RunTimings in the library). */
export interface RecordTimings
  extends Pick<RunTimings, "total" | "preprocess" | "vision" | "encoder" | "decoder" | "postprocess" | "decoderSteps"> {
  /** The batch this request was decoded in: its requests, photos and wall time (ms). */
  batch: { requests: number; images: number; total: number };
}

/** One line of the file. `file` comes first: a cut-off line is recognised by its start. */
export interface ResultRecord extends RunIdentity {
  file: string;
  /** The task token, e.g. "<OD>". */
  task: string;
  /** The phrase or region the task was given (a region is the whole photo); absent for tasks without input. */
  input?: string | PixelBox;
  /** The photo's size: the result's coordinates are its pixels. */
  image: { width: number; height: number };
  /** As the reference's post_process_generation gives it: `{ "<OD>": { bboxes, labels } }`. */
  result: Record<string, TaskResult>;
  /** The generated text, special tokens included (what `result` was parsed from). */
  text: string;
  /** Beam search: the chosen hypothesis' length-normalised score; greedy: null. */
  score: number | null;
  timings: RecordTimings;
  /** Present only for a stand-in model: says its results are not Florence-2's. */
  standin?: string;
}

/** The file is not this command's results, or holds another model's: nothing was changed. */
export class ResultsFileError extends Error {
  override name = "ResultsFileError";
}

/** What the file holds already. */
export interface ExistingResults {
  file: string;
  /** pairKey of every result line. */
  done: Set<string>;
  /** Result lines read. */
  records: number;
  /** The end of the file after its last newline: nothing, a whole line without its newline, or a cut-off line. */
  tail: { kind: "none" } | { kind: "unterminated" } | { kind: "cut"; offset: number; bytes: number };
}

/** How a pair of photo and task is known: the phrase is part of it (another phrase is another request). */
export function pairKey(file: string, task: string, input: string | PixelBox | undefined): string {
  return JSON.stringify([file, task, typeof input === "string" ? input : null]);
}

const RECORD_START = '{"file":';
const CHUNK = 1 << 20;

function identityText(identity: RunIdentity): string {
  return `${identity.model} ${identity.dtype}, ${settingsLine(identity.settings)}`;
}

function sameIdentity(a: RunIdentity, b: RunIdentity): boolean {
  return (
    a.model === b.model && a.dtype === b.dtype && a.settings.numBeams === b.settings.numBeams &&
    a.settings.maxNewTokens === b.settings.maxNewTokens && a.settings.earlyStopping === b.settings.earlyStopping
  );
}

/** The record of a line, or undefined when it isn't one of this command's result lines. */
function parseRecord(line: string): ResultRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const r = value as Partial<ResultRecord> | null;
  const isRecord =
    r !== null && typeof r === "object" && typeof r.file === "string" && typeof r.task === "string" &&
    typeof r.result === "object" && r.result !== null && typeof r.model === "string" && typeof r.dtype === "string" &&
    typeof r.settings === "object" && r.settings !== null;
  return isRecord ? (r as ResultRecord) : undefined;
}

/**
 * Reads the results file, if there is one, without changing it: the pairs done, and how it ends. Throws a
 * ResultsFileError when a line is not a result line (the file is something else) or comes from another model,
 * dtype or settings.
 */
export function readResults(file: string, identity: RunIdentity): ExistingResults {
  const existing: ExistingResults = { file, done: new Set(), records: 0, tail: { kind: "none" } };
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch {
    return existing; // a new file
  }
  if (!stat.isFile()) throw new ResultsFileError(`--out ${file} is not a file (a folder?): give a .jsonl file to append results to.`);
  const accept = (line: string, lineNumber: number): boolean => {
    if (line.trim() === "") return true;
    const record = parseRecord(line);
    if (!record) return false;
    if (!sameIdentity(record, identity)) {
      throw new ResultsFileError(
        `${file} holds results of ${identityText(record)} (line ${lineNumber}), and this run is ${identityText(identity)}. ` +
          `Give another --out file, or the same model, dtype and settings to resume that run.`,
      );
    }
    existing.done.add(pairKey(record.file, record.task, record.input));
    existing.records++;
    return true;
  };
  const notOurs = (lineNumber: number) =>
    new ResultsFileError(
      `Line ${lineNumber} of ${file} is not a result line of npm start --images, so the file holds something else; ` +
        `it was left as it is. Give another --out file.`,
    );

  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(CHUNK);
    let pending: Buffer[] = [];
    let lineStart = 0; // byte offset of the line being read
    let position = 0;
    let lineNumber = 1;
    for (;;) {
      const read = fs.readSync(fd, buffer, 0, CHUNK, position);
      if (read === 0) break;
      let from = 0;
      for (let i = 0; i < read; i++) {
        if (buffer[i] !== 0x0a) continue;
        pending.push(buffer.subarray(from, i));
        if (!accept(Buffer.concat(pending).toString("utf8"), lineNumber)) throw notOurs(lineNumber);
        pending = [];
        lineNumber++;
        from = i + 1;
        lineStart = position + from;
      }
      pending.push(Buffer.from(buffer.subarray(from, read)));
      position += read;
    }
    const tail = Buffer.concat(pending);
    if (tail.length > 0) {
      const text = tail.toString("utf8");
      if (text.trim() === "" || accept(text, lineNumber)) existing.tail = { kind: "unterminated" };
      else if (text.startsWith(RECORD_START)) existing.tail = { kind: "cut", offset: lineStart, bytes: tail.length };
      else throw notOurs(lineNumber);
    }
  } finally {
    fs.closeSync(fd);
  }
  return existing;
}

/** Appends result lines, each written whole with one write, so that the file always ends with a whole line. */
export class ResultsWriter {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /**
   * Opens the file to append (creating it and its folder), after `readResults`: a cut-off last line is removed
   * first (its pair runs again), and a last line without its newline gets one.
   */
  static open(existing: ExistingResults): ResultsWriter {
    const { file, tail } = existing;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (tail.kind === "cut") fs.truncateSync(file, tail.offset);
    const fd = fs.openSync(file, "a");
    const writer = new ResultsWriter(file, fd);
    if (tail.kind === "unterminated") writer.write("\n");
    return writer;
  }

  append(record: ResultRecord): void {
    this.write(`${JSON.stringify(record)}\n`);
  }

  /** Flushes to disk and closes; later appends fail. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private write(text: string): void {
    if (this.fd === undefined) throw new Error(`The results file ${this.file} was closed.`);
    const bytes = Buffer.from(text, "utf8");
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(this.fd, bytes, written, bytes.length - written);
  }
}
