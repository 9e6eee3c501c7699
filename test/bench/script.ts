/**
 * The scripted output the benchmark's stand-in emits. One stand-in serves all 14 tasks (a base model is 1.1 GB
 * and the all-tasks mode must run every task on one loaded model), so there is one script, and each task stops
 * after its own token count through `maxNewTokens`: generation then forces `</s>` as the last token, exactly where
 * the real model would emit its own `</s>`. A decoder step costs the same whatever id comes out, so only the
 * counts matter for time; the content is chosen so that every task's prefix parses as that task's result kind.
 *
 * Layout: `<s>`, then records of a label followed by 8 `<loc_*>` tokens; the first label is a short caption of the
 * scene, so that pure-text tasks of up to 13 tokens read as a sentence. A label + 8 locations reads as two labelled boxes (OD, dense captions, phrase
 * grounding, open-vocabulary detection), boxes (region proposals), one labelled quadrilateral (OCR with regions) or
 * a 4-point polygon (segmentation); pure-text tasks keep it verbatim, as the real REGION_TO_CATEGORY output does.
 */
// Seeded (mulberry32), so the script and therefore every timed run is reproducible.
import { mulberry32 } from "../support/prng";

/** The part of a tokenizer the script needs: `encode` returns ids wrapped in `<s>` ... `</s>`. */
export interface ScriptTokenizer {
  encode(text: string): number[];
}

/** What the first tokens say: the kind of caption Florence-2 writes for the walkthrough's photo. */
const CAPTION_PREFIX = "A rainy city street with people crossing at a crosswalk";
/** At most this many caption ids, so the 24-token tasks still reach a record with locations. */
const CAPTION_PREFIX_MAX_IDS = 11;
/** Labels in the style of Florence-2's OD output for a street scene (no leading space: they follow a loc token). */
const LABELS = [
  "person", "umbrella", "car", "traffic light", "building", "bus", "handbag", "bicycle", "truck", "crosswalk",
  "street sign", "backpack", "tree", "window", "pole", "taxi", "coat", "shoe", "van", "sidewalk",
];
const LOCATIONS_PER_RECORD = 8;
const LOC_BINS = 1000;
/** `no_repeat_ngram_size` of Florence-2's generation config: a repeated 3-gram would block the scripted token. */
const NGRAM = 3;
const ATTEMPTS_PER_RECORD = 40;
const MAX_LABEL_IDS = 2;


/** Ids of a text without the `<s>`/`</s>` the tokenizer wraps around it. */
function innerIds(tokenizer: ScriptTokenizer, text: string, bos: number, eos: number): number[] {
  const ids = tokenizer.encode(text);
  if (ids[0] !== bos || ids[ids.length - 1] !== eos) {
    throw new Error(`Expected the tokenizer to wrap "${text}" in <s>=${bos} ... </s>=${eos} but got [${ids.join(", ")}].`);
  }
  return ids.slice(1, -1);
}

function locationId(tokenizer: ScriptTokenizer, bin: number, bos: number, eos: number): number {
  const ids = innerIds(tokenizer, `<loc_${bin}>`, bos, eos);
  if (ids.length !== 1) throw new Error(`Expected <loc_${bin}> to be one token of the model's tokenizer, got [${ids.join(", ")}].`);
  return ids[0];
}

function uniqueLists(lists: number[][]): number[][] {
  const seen = new Set<string>();
  return lists.filter((l) => l.length > 0 && !seen.has(l.join(",")) && seen.add(l.join(",")));
}

/** Two boxes' worth of corners (x1 < x2, y1 < y2), as location bins. */
function drawLocations(random: () => number): number[] {
  const bins: number[] = [];
  for (let box = 0; box < LOCATIONS_PER_RECORD / 4; box++) {
    const x1 = Math.floor(random() * (LOC_BINS - 100));
    const y1 = Math.floor(random() * (LOC_BINS - 100));
    bins.push(x1, y1, x1 + 20 + Math.floor(random() * 79), y1 + 20 + Math.floor(random() * 79));
  }
  return bins;
}

/** Tracks the 3-grams of the sequence so far, decoder start token included, as the n-gram rule sees them. */
class NgramGuard {
  private readonly seen = new Set<string>();
  constructor(readonly sequence: number[]) {
    for (let i = NGRAM; i <= sequence.length; i++) this.seen.add(sequence.slice(i - NGRAM, i).join(","));
  }
  /** Appends the ids if none of the 3-grams they complete has been seen; returns whether it did. */
  tryAppend(ids: readonly number[]): boolean {
    const trial = [...this.sequence.slice(-(NGRAM - 1)), ...ids];
    const grams: string[] = [];
    for (let i = NGRAM; i <= trial.length; i++) grams.push(trial.slice(i - NGRAM, i).join(","));
    if (grams.some((g) => this.seen.has(g)) || new Set(grams).size !== grams.length) return false;
    grams.forEach((g) => this.seen.add(g));
    this.sequence.push(...ids);
    return true;
  }
}

export interface ScriptIds {
  bos: number;
  eos: number;
  decoderStart: number;
}

/**
 * The script for a stand-in: `totalTokens` ids starting with `<s>` and ending with `</s>`, every 3-gram of
 * `[decoderStart, ...script]` unique, so that `no_repeat_ngram_size: 3` never blocks a scripted id.
 */
export function buildBenchScript(tokenizer: ScriptTokenizer, totalTokens: number, ids: ScriptIds, seed = 1): number[] {
  if (!Number.isInteger(totalTokens) || totalTokens < 3) {
    throw new Error(`Expected a script length of at least 3 tokens (<s>, one token, </s>) but received ${totalTokens}.`);
  }
  const random = mulberry32(seed);
  const { bos, eos } = ids;
  const caption = innerIds(tokenizer, CAPTION_PREFIX, bos, eos).slice(0, CAPTION_PREFIX_MAX_IDS);
  // At most 2 ids per label: every 3-gram then holds a random location, so labels can repeat. The real tokenizer
  // gives 1-2 ids per label; a small generated one may split words further, and then labels are cut short.
  const labels = uniqueLists(LABELS.map((l) => innerIds(tokenizer, l, bos, eos).slice(0, MAX_LABEL_IDS)));
  const locBase = locationId(tokenizer, 0, bos, eos);
  if (locationId(tokenizer, LOC_BINS - 1, bos, eos) !== locBase + LOC_BINS - 1) {
    throw new Error(`Expected <loc_0> ... <loc_999> to have consecutive ids in the model's tokenizer.`);
  }

  const guard = new NgramGuard([ids.decoderStart, bos]);
  const body = totalTokens - 1; // everything before the final </s>
  while (guard.sequence.length - 1 < body) {
    let appended = false;
    for (let attempt = 0; attempt < ATTEMPTS_PER_RECORD && !appended; attempt++) {
      // The caption is the first record's label: a dense-region-caption style description of the whole scene.
      const label = guard.sequence.length === 2 ? caption : labels[Math.floor(random() * labels.length)];
      const record = [...label, ...drawLocations(random).map((bin) => locBase + bin)];
      const room = body - (guard.sequence.length - 1);
      appended = guard.tryAppend(record.slice(0, room));
    }
    if (!appended) {
      throw new Error(`Could not extend the benchmark script past ${guard.sequence.length - 1} tokens without repeating a 3-gram.`);
    }
  }
  const script = guard.sequence.slice(1, 1 + body);
  script.push(eos);
  return script;
}

/** Checks what the stand-in needs from a script, with the offending position in the error. */
export function checkScript(script: readonly number[], ids: ScriptIds): void {
  if (script[0] !== ids.bos || script[script.length - 1] !== ids.eos) {
    throw new Error(`A stand-in script must start with <s>=${ids.bos} and end with </s>=${ids.eos}.`);
  }
  const seq = [ids.decoderStart, ...script];
  const seen = new Map<string, number>();
  for (let i = NGRAM; i <= seq.length; i++) {
    const gram = seq.slice(i - NGRAM, i).join(",");
    const first = seen.get(gram);
    if (first !== undefined) throw new Error(`Script 3-gram [${gram}] at ${i - NGRAM} repeats the one at ${first}.`);
    seen.set(gram, i - NGRAM);
  }
}
