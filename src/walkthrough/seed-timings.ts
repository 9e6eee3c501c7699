/**
 * The seed's per-task timing table: what the Colab walkthrough (Florence-2-Colaboratory-Sample, MIT) printed
 * with IPython's `%%time` for each task. Kept in code because users' clones do not have the reference folder
 * it comes from; the strings are exactly as IPython printed them.
 */

/** How the seed's figures were measured, for table headers. */
export const SEED_SETUP =
  "Colab T4 GPU, PyTorch, Florence-2-large, num_beams=3, max_new_tokens=1024, 1600x1066 photos";
/** The seed's device, for column headers and chart legends. */
export const SEED_DEVICE = "T4";

/** One task's `%%time` output: `CPU times: user <user>, sys: <sys>, total: <total>` and `Wall time: <wall>`. */
export interface SeedTiming {
  user: string;
  sys: string;
  total: string;
  wall: string;
}

/** Keyed by task token (`src/text/tasks.ts`), in the walkthrough's order. */
export const SEED_TIMINGS: Readonly<Record<string, SeedTiming>> = {
  "<CAPTION>": { user: "420 ms", sys: "1.1 ms", total: "421 ms", wall: "421 ms" },
  "<DETAILED_CAPTION>": { user: "978 ms", sys: "4.15 ms", total: "982 ms", wall: "981 ms" },
  "<MORE_DETAILED_CAPTION>": { user: "1.66 s", sys: "7.85 ms", total: "1.67 s", wall: "2.48 s" },
  "<OD>": { user: "2.3 s", sys: "7.84 ms", total: "2.31 s", wall: "2.3 s" },
  "<DENSE_REGION_CAPTION>": { user: "5.54 s", sys: "14.5 ms", total: "5.56 s", wall: "5.55 s" },
  "<REGION_PROPOSAL>": { user: "1.61 s", sys: "5.18 ms", total: "1.62 s", wall: "1.66 s" },
  "<CAPTION_TO_PHRASE_GROUNDING>": { user: "729 ms", sys: "2.96 ms", total: "732 ms", wall: "730 ms" },
  "<OPEN_VOCABULARY_DETECTION>": { user: "700 ms", sys: "962 µs", total: "701 ms", wall: "698 ms" },
  "<REFERRING_EXPRESSION_SEGMENTATION>": { user: "8.37 s", sys: "10.7 ms", total: "8.38 s", wall: "8.45 s" },
  "<REGION_TO_SEGMENTATION>": { user: "6.58 s", sys: "16.7 ms", total: "6.6 s", wall: "6.61 s" },
  "<REGION_TO_CATEGORY>": { user: "341 ms", sys: "52 µs", total: "341 ms", wall: "339 ms" },
  "<REGION_TO_DESCRIPTION>": { user: "426 ms", sys: "1.91 ms", total: "428 ms", wall: "424 ms" },
  "<OCR>": { user: "917 ms", sys: "22 µs", total: "917 ms", wall: "914 ms" },
  "<OCR_WITH_REGION>": { user: "2.99 s", sys: "10.5 ms", total: "3 s", wall: "3.09 s" },
};

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, ms: 1e-3, "µs": 1e-6, ns: 1e-9 };

/** Seconds from one of IPython's `_format_time` strings below a minute: `"421 ms"`, `"1.66 s"`, `"962 µs"`. */
export function parseIPythonTime(text: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e[+-]\d+)?) (s|ms|µs|ns)$/.exec(text);
  if (!m) throw new Error(`Expected a time like "421 ms" or "1.66 s" but received ${JSON.stringify(text)}.`);
  return Number(m[1]) * UNIT_SECONDS[m[2]];
}

/** The seed's wall time for a task token, in seconds; undefined for a task the walkthrough did not time. */
export function seedWallSeconds(token: string): number | undefined {
  const timing = SEED_TIMINGS[token];
  return timing ? parseIPythonTime(timing.wall) : undefined;
}

/** The seed's CPU total (user + sys, as `%%time` printed it) for a task token, in seconds; undefined as above. */
export function seedCpuTotalSeconds(token: string): number | undefined {
  const timing = SEED_TIMINGS[token];
  return timing ? parseIPythonTime(timing.total) : undefined;
}
