/**
 * Timing one piece of work the way the seed's `%%time` does (CPU user/sys of the whole process, onnxruntime's
 * threads included, and wall time), plus the time inside session.run per module and the peak RSS.
 */
import { peakRssBytes, resetPeakRss } from "./memory";
import type { Measurement } from "./protocol";
import { startSessionTotals } from "./session-timer";

export async function measure<T>(work: () => Promise<T>): Promise<{ value: T; measurement: Measurement }> {
  const perRun = resetPeakRss();
  const sessions = startSessionTotals();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {
    value,
    measurement: {
      wallMs,
      userMs: used.user / 1000,
      sysMs: used.system / 1000,
      peakRssBytes: peakRssBytes(),
      peakRssIsPerRun: perRun,
      sessions: sessions(),
    },
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of each numeric field over several records with the same keys. */
export function medianRecord(records: readonly Record<string, number>[]): Record<string, number> {
  const keys = new Set(records.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...keys].map((k) => [k, median(records.map((r) => r[k] ?? 0))]));
}
