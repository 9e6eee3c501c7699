/**
 * What the benchmark needs from each side (our engine, transformers.js), as run inside a child process.
 */
import type { TaskWorkload } from "./workload";

export interface SideRun {
  /** Generated ids, decoder start token included. */
  ids: number[];
  /** The side's own timings, flattened to numbers (empty when it reports none). */
  engine: Record<string, number>;
  postProcessed?: boolean;
}

export interface SequenceRun {
  perTask: { wallMs: number; ids: number[] }[];
  engine: Record<string, number>;
}

export interface BenchSide {
  /** The session options it runs with, in words, for the results header. */
  readonly description: string;
  /** Where its sessions run, for the device column. */
  readonly device: string;
  /** One task from the image file to the parsed result; `workload.outputTokens` is also the token limit. */
  run(imagePath: string, workload: TaskWorkload, numBeams: number): Promise<SideRun>;
  /** Every task on one image, in order, reusing whatever the side can reuse between tasks. */
  runSequence(imagePaths: readonly string[], workloads: readonly TaskWorkload[]): Promise<SequenceRun>;
  dispose(): Promise<void>;
}
