/**
 * What a reader needs to reproduce or judge the numbers: the machine, the software versions, the load on it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "./models";

export interface MachineInfo {
  cpu: string;
  logicalCores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntimeNode: string;
  transformersJs: string;
  /** 1-minute load averages when the benchmark started and ended (other processes on the machine). */
  loadAtStart: number;
  date: string;
}

function packageVersion(name: string): string {
  try {
    const file = path.join(REPO_ROOT, "node_modules", ...name.split("/"), "package.json");
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    logicalCores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntimeNode: packageVersion("onnxruntime-node"),
    transformersJs: packageVersion("@huggingface/transformers"),
    loadAtStart: os.loadavg()[0],
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

/** The 1-minute load average now: above the core count, other work competed for the CPU. */
export function loadNow(): number {
  return os.loadavg()[0];
}
