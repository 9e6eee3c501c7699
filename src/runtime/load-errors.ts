/**
 * Why `InferenceSession.create` failed, in words that lead to the right fix. A user told "corrupt file" deletes a
 * gigabyte for nothing when the real cause is an operator the provider lacks, memory, or a provider that cannot
 * start; so a file is called damaged only after checking it against its record (the download manifest or the
 * Hugging Face cache's blob name), and onnxruntime's own error is always kept as the `cause`.
 *
 * The message forms matched below were read from onnxruntime-node 1.30 by opening stand-in graphs:
 *   "Could not find an implementation for Relu(14) node with name 'Relu_node_1'"   (an op with no kernel here)
 *   "... Error No Op registered for FooBarOp with domain_version of 17"               (unknown op, ONNX domain)
 *   "Fatal error: com.microsoft:FooBarOp(-1) is not a registered function/op"         (unknown op, other domain)
 *   "Exception during initialization: std::bad_alloc"                                  (memory, under ulimit -v)
 *   "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library"     (CUDA provider absent)
 *   "... Failed to get a WebGPU adapter: No supported adapters"                        (WebGPU without a GPU)
 *   "no available backend found. ERR: [dml] backend not found."                       (a provider not in this build)
 *   "Load model from ... failed:Protobuf parsing failed."                              (truncated or not ONNX)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { checkAgainstRecord, fileRecord } from "../hub/file-record";
import type { Dtype, ModuleName } from "./dtypes";

export type ModelLoadErrorKind = "MISSING_OPERATOR" | "OUT_OF_MEMORY" | "PROVIDER" | "DAMAGED_FILE" | "UNREADABLE";

/** A session that could not be opened: `kind` says why; `cause` is onnxruntime's own error. */
export class ModelLoadError extends Error {
  override name = "ModelLoadError";
  constructor(
    readonly kind: ModelLoadErrorKind,
    /** The .onnx file, relative to the model folder. */
    readonly file: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

export interface LoadAttempt {
  folder: string;
  /** The .onnx file, relative to the folder. */
  relative: string;
  module: ModuleName;
  dtype: Dtype;
  /** Provider names the session was opened with, preferred first. */
  providers: readonly string[];
}

/** Operators of the quantized exports (onnxruntime's com.microsoft contrib ops and ONNX's integer ops), by dtype. */
const QUANTIZED_OPERATORS: Partial<Record<Dtype, readonly string[]>> = {
  q4: ["MatMulNBits", "GatherBlockQuantized"],
  q4f16: ["MatMulNBits", "GatherBlockQuantized"],
  bnb4: ["MatMulBnb4", "MatMulNBits", "GatherBlockQuantized"],
  q8: ["MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"],
  int8: ["MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"],
  uint8: ["MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"],
};

interface MissingOperator {
  op: string;
  /** "no kernel": onnxruntime knows the op but none of the providers implements it for these types. */
  how: "no kernel" | "unknown";
}

export function missingOperator(message: string): MissingOperator | null {
  const kernel = /Could not find an implementation for ([\w.]+)\(\d+\)/.exec(message);
  if (kernel) return { op: kernel[1], how: "no kernel" };
  const unknown = /No Op registered for ([\w.]+) with domain_version/.exec(message) ?? /([\w.]+:[\w.]+)\(-?\d+\) is not a registered function\/op/.exec(message);
  if (unknown) return { op: unknown[1], how: "unknown" };
  return null;
}

export function isOutOfMemory(message: string): boolean {
  return /bad_alloc|Failed to allocate memory|out of memory|Cannot allocate memory|ENOMEM/i.test(message);
}

export function isProviderFailure(message: string): boolean {
  return /Failed to load shared library|backend not found|Failed to get a WebGPU adapter|No supported adapters|AppendExecutionProvider|CUDA driver|cudaErrorNoDevice|no CUDA-capable device/i.test(
    message,
  );
}

/** The error to throw for a failed `InferenceSession.create` of `attempt`. */
export async function sessionLoadError(attempt: LoadAttempt, err: unknown): Promise<ModelLoadError> {
  const said = ((err as Error)?.message ?? String(err)).trim().replace(/\.$/, "");
  const where = `Could not load ${attempt.relative} (dtype "${attempt.dtype}" for ${attempt.module}) from "${attempt.folder}"`;
  const fail = (kind: ModelLoadErrorKind, text: string) => new ModelLoadError(kind, attempt.relative, `${where}: ${text}`, { cause: err });
  const providers = attempt.providers.join(", ");
  const onCpuOnly = attempt.providers.every((p) => p === "cpu");

  const missing = missingOperator(said);
  if (missing) {
    const what =
      missing.how === "no kernel"
        ? `none of its execution providers (${providers}) has a kernel for the operator ${missing.op} that the file uses, for these element types`
        : `onnxruntime-node ${ort.env.versions.node} does not know the operator ${missing.op} that the file uses (on ${providers})`;
    return fail("MISSING_OPERATOR", `${what}. ${operatorAdvice(attempt, missing.op, onCpuOnly)} onnxruntime said: ${said}.`);
  }
  if (isOutOfMemory(said)) {
    const where = onCpuOnly ? "RAM" : `memory on ${attempt.providers[0]} (the GPU's own memory)`;
    const smaller = attempt.dtype === "fp32" ? ` A smaller dtype needs less: "fp16" about half, "q8" or "q4" a quarter or less.` : "";
    return fail(
      "OUT_OF_MEMORY",
      `there was not enough ${where} to create the session (onnxruntime said: ${said}). The file itself is not at fault.${smaller} ` +
        `Free memory (dispose other models with model.dispose(), close other programs), or use a machine with more.`,
    );
  }
  if (isProviderFailure(said)) {
    return fail(
      "PROVIDER",
      `the ${attempt.providers[0]} execution provider could not start (onnxruntime said: ${said}). The file itself is not at ` +
        `fault. Load with device: "cpu" (or "auto", which uses the CPU when a GPU provider cannot start); for GPU setup see ` +
        `kernel-setup/README.md.`,
    );
  }
  return fileVerdict(attempt, said, fail);
}

function operatorAdvice(attempt: LoadAttempt, op: string, onCpuOnly: boolean): string {
  const quantizedOps = QUANTIZED_OPERATORS[attempt.dtype];
  const bareOp = op.split(":").pop() as string;
  if (quantizedOps) {
    const known = quantizedOps.includes(bareOp) ? `${bareOp} is one of the operators ${attempt.dtype} files use (${quantizedOps.join(", ")}). ` : "";
    const cpu = onCpuOnly ? "" : `, or device: "cpu", whose provider has onnxruntime's quantized kernels`;
    return (
      `${known}Load ${attempt.module} in a dtype made of standard ONNX operators, which every provider has: ` +
      `dtype: { ${attempt.module}: "fp32" } (or "fp16")${cpu}.`
    );
  }
  if (!onCpuOnly) return `Load with device: "cpu", whose provider has the most kernels, or another dtype (e.g. "fp32" for fp16).`;
  return (
    `The file needs an operator this onnxruntime-node's CPU provider lacks: it was made for another runtime or a newer ` +
    `onnxruntime. Use the onnx-community export's files, or a newer onnxruntime-node.`
  );
}

/** Neither an operator, memory nor a provider: the file is called damaged only if its record says so. */
async function fileVerdict(
  attempt: LoadAttempt,
  said: string,
  fail: (kind: ModelLoadErrorKind, text: string) => ModelLoadError,
): Promise<ModelLoadError> {
  const files = [attempt.relative, ...externalDataBeside(attempt.folder, attempt.relative)];
  let checked = 0;
  for (const relative of files) {
    const record = fileRecord(attempt.folder, relative);
    if (!record) continue;
    const mismatch = await checkAgainstRecord(attempt.folder, record).catch((e: unknown) => `it cannot be read (${(e as Error).message})`);
    checked++;
    if (mismatch === null) continue;
    const fix = record.inHfCache
      ? `It lies in the Hugging Face cache, which this project never changes: fetch it again there ` +
        `(hf download ${hfRepoOf(attempt.folder) ?? "<repo>"} ${relative} --force-download).`
      : `Delete it and load the model again to download it afresh.`;
    return fail("DAMAGED_FILE", `onnxruntime could not read it (${said}), and ${relative} is damaged: ${mismatch} (from ${record.source}). ${fix}`);
  }
  if (checked > 0) {
    return fail(
      "UNREADABLE",
      `onnxruntime could not read it: ${said}. The file is intact (it matches ${checked === 1 ? "its record" : "the records"} of ` +
        `${files.length === 1 ? "it" : files.join(", ")}), so downloading it again will not help: this onnxruntime-node ` +
        `(${ort.env.versions.node}) cannot open this export. Use the onnx-community export's files, or a newer onnxruntime-node.`,
    );
  }
  return fail(
    "UNREADABLE",
    `onnxruntime could not read it: ${said}. Nothing records what the file should hold (the folder was not written by this ` +
      `project's downloader), so it could not be checked: a truncated or damaged copy fails like this. Compare its size ` +
      `and sha256 with the Hub's listing, or copy or download it again.`,
  );
}

/** `x.onnx_data`, `x.onnx_data_1`, ... beside `x.onnx`, the export's external-data files. */
function externalDataBeside(folder: string, relative: string): string[] {
  const dir = path.dirname(relative);
  const base = path.basename(relative);
  let names: string[];
  try {
    names = fs.readdirSync(path.join(folder, dir));
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(`${base}_data`) && /^_data(_\d+)?$/.test(n.slice(base.length))).map((n) => path.posix.join(dir, n));
}

/** `org/name` of a Hugging Face cache snapshot folder (`.../models--org--name/snapshots/<commit>`). */
function hfRepoOf(folder: string): string | null {
  const m = /models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\][^/\\]+[/\\]?$/.exec(folder);
  return m ? `${m[1]}/${m[2]}` : null;
}
