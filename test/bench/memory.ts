/**
 * Resident memory of the current process. Peak RSS cannot be sampled with timers here: `session.run` blocks the
 * JS thread for the whole call. Linux keeps the peak itself (VmHWM in /proc/self/status) and lets a process reset
 * it (writing 5 to /proc/self/clear_refs, Linux >= 4.0), which gives an exact per-run peak; elsewhere the
 * process-lifetime peak from getrusage is reported instead.
 */
import * as fs from "node:fs";

const STATUS = "/proc/self/status";
const CLEAR_REFS = "/proc/self/clear_refs";

function statusKiB(field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(STATUS, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a new peak-RSS window; returns whether the peak could be reset (false: peaks are process-lifetime). */
export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync(CLEAR_REFS, "5");
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set size in bytes since the last reset (or since the process started). */
export function peakRssBytes(): number {
  const hwm = statusKiB("VmHWM");
  return hwm !== undefined ? hwm * 1024 : process.resourceUsage().maxRSS * 1024;
}

export function rssBytes(): number {
  return process.memoryUsage.rss();
}

export const MiB = 1024 * 1024;
