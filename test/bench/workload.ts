/**
 * What the benchmark asks of each walkthrough task: its text input and how many tokens it generates.
 *
 * Run time is dominated by the number of generated tokens, so each task is scripted to emit as many tokens as the
 * real model typically emits for it on the walkthrough's busy street photo (../shared/SEED_TIMINGS.md, "Output
 * lengths": real Florence-2 outputs on simple images, scaled to the seed photo through the seed's T4 times at about
 * 25 ms per token after 0.1 s of fixed cost). Counts include `<s>` and the final `</s>`, not the decoder start token.
 */
import type { PixelBox } from "../../src/text/prompts";
import { WALKTHROUGH_TASKS, getTask, type TaskSpec } from "../../src/text/tasks";
import { SAMPLE_IMAGE_SIZE, walkthroughInput } from "../../src/walkthrough/index";
import type { WorkloadSpec } from "./protocol";

/** Generated tokens per task on the seed photo (the "estimated on the seed photo" column of SEED_TIMINGS.md). */
const SEED_PHOTO_OUTPUT_TOKENS: Readonly<Record<string, number>> = {
  "<CAPTION>": 13,
  "<DETAILED_CAPTION>": 35,
  "<MORE_DETAILED_CAPTION>": 95,
  "<OD>": 88,
  "<DENSE_REGION_CAPTION>": 218,
  "<REGION_PROPOSAL>": 62,
  "<CAPTION_TO_PHRASE_GROUNDING>": 25,
  "<OPEN_VOCABULARY_DETECTION>": 24,
  "<REFERRING_EXPRESSION_SEGMENTATION>": 334,
  "<REGION_TO_SEGMENTATION>": 260,
  "<REGION_TO_CATEGORY>": 10,
  "<REGION_TO_DESCRIPTION>": 13,
  "<OCR>": 33,
  "<OCR_WITH_REGION>": 120,
};

export interface TaskWorkload {
  task: TaskSpec;
  /** The text or region the task needs (the walkthrough's example inputs), undefined for tasks without input. */
  input: string | PixelBox | undefined;
  /** Tokens the scripted stand-in emits for this task, `<s>` and `</s>` included; also its `maxNewTokens`. */
  outputTokens: number;
}

/** The serializable form a child process gets (the task by its token). */
export function toSpec(workload: TaskWorkload): WorkloadSpec {
  return { task: workload.task.token, input: workload.input, outputTokens: workload.outputTokens };
}

/** The workload of one task, by token (`"<OD>"`) or name (`"OD"`). */
export function workloadFor(tokenOrName: string): TaskWorkload {
  const task = getTask(tokenOrName);
  const outputTokens = SEED_PHOTO_OUTPUT_TOKENS[task.token];
  if (outputTokens === undefined) {
    const known = WALKTHROUGH_TASKS.map((t) => t.name).join(", ");
    throw new Error(`The benchmark has no output length for ${task.token}: it runs the walkthrough tasks (${known}).`);
  }
  // The photo is the walkthrough's (or a generated image of its size), so its example regions fit as they are.
  return { task, input: walkthroughInput(task, SAMPLE_IMAGE_SIZE), outputTokens };
}

/** All 14 walkthrough tasks, in the walkthrough's order. */
export function walkthroughWorkloads(): TaskWorkload[] {
  return WALKTHROUGH_TASKS.map((t) => workloadFor(t.token));
}

/** The longest scripted output of any task, so one script serves every task. */
export function longestOutput(workloads: readonly TaskWorkload[]): number {
  return Math.max(...workloads.map((w) => w.outputTokens));
}
