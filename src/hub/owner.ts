/** Which process owns a lock or a partial file, and whether that process is gone. */
import * as os from "node:os";

export const HOST = os.hostname();

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
