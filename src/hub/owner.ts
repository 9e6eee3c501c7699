/** Which process owns a lock or a partial file, and whether that process is gone. */
import * as fs from "node:fs";
import * as os from "node:os";

export const HOST = os.hostname();

/**
 * What makes a pid meaningful here: on Linux the pid namespace (containers have their own, and may share a host
 * name); elsewhere the platform, whose pids are host-wide. null when Linux hides it: then no pid is trusted.
 */
export const PID_NAMESPACE: string | null = readPidNamespace();

function readPidNamespace(): string | null {
  if (process.platform !== "linux") return process.platform;
  try {
    return fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    return null;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
