/**
 * Generated text -> exactly what the reference's `post_process_generation` returns.
 *
 * The reference is Microsoft's remote-code `processing_florence2.py` (`Florence2Processor.
 * post_process_generation` and `Florence2PostProcesser`), i.e. what the Colab walkthrough ran. Its output
 * is reproduced key for key, label for label and float for float, quirks included: the reference's own
 * behaviour, not the cleaner native `transformers` processor's or transformers.js' (which differ in several of
 * them). The quirks, numbered as the comments below cite them:
 *
 *  1. Coordinates are float32 and scale x by the width, y by the height (loc-bins.ts `dequantize`).
 *  2. Nothing is validated or clamped: `<loc_1000>`, `<loc_12345>`, `<loc_007>` parse, inverted boxes are kept,
 *     a 0x0 image gives zeros.
 *  3. Pure text (and any unknown or lowercase task, keyed as given) only loses `<s>` and `</s>`; no strip.
 *  4. Box parsers first drop `<s>`, `</s>` and `<pad>`; each full group of 4 locs after a label is a box (leftover
 *     locs are ignored); labels are stripped and lose every non-ASCII character, but are not lowercased
 *     (`parse_od_from_text_and_spans`, which lowercases, is never called).
 *  5. The label pattern `[^<]+` can start inside a loc token (`<loc_4>car<loc..>` gives the label `"loc_4>car"`).
 *  6. `.` without DOTALL: a label that holds or ends with `\n` is dropped with its boxes.
 *  7. REGION_PROPOSAL ignores label text; fewer than 4 locs give nothing.
 *  8. Phrase grounding drops blacklisted phrases, matched exactly and case-sensitively before non-ASCII deletion.
 *  9. OPEN_VOCABULARY_DETECTION: one `<poly>` anywhere sends all the text through the polygon parser.
 * 10. Polygons: runs of >= 4 tokens of {loc, `<sep>`, `<poly>`, `</poly>`}; a run starting with `<sep>` or
 *     `</poly>` is labelled with that token; odd coordinate counts drop the last value.
 * 11. OCR_WITH_REGION only removes `<s>`, so the first label is usually `"</s>CUDA"`; labels are kept as written
 *     and a lazy `(.+?)` lets stray locs join the next label.
 *
 * The reference parses with Python's `re`, whose classes differ from JavaScript's, so each pattern here
 * spells out the Python meaning:
 * - Python `.` (no DOTALL) excludes only `\n`; JavaScript's `.` also excludes `\r`, U+2028 and U+2029, so
 *   patterns use `[^\n]`.
 * - Python `\d` on str matches every Unicode decimal digit and `int()` reads them (`<loc_٣>` is bin 3):
 *   loc tokens are read with loc-bins.ts' reference reader (`LOC_TOKEN_SOURCE`, `locBin`).
 * - Python `\s` and `str.strip()` use `str.isspace()`: it includes U+001C..U+001F and U+0085 but not
 *   U+FEFF, unlike JavaScript's `\s` and `trim()`; see PY_WHITESPACE.
 * - Python `$` (no MULTILINE) also matches before a final `\n`: written `(?=\n?$)`.
 */
import { LOC_BIN_SOURCE, LOC_TOKEN_SOURCE, dequantizeCoordinates, locBin, locBinsIn } from "./loc-bins";
import { checkImageSize, type ImageSize } from "../image/rgb-image";
import { ResultKind, findTask } from "./tasks";

/** `<OD>`, `<DENSE_REGION_CAPTION>`, `<REGION_PROPOSAL>`, `<CAPTION_TO_PHRASE_GROUNDING>`: one label per box. */
export interface BoxesResult {
  /** `[x1, y1, x2, y2]` in pixels of the original image (float32 values), one per label. */
  bboxes: number[][];
  labels: string[];
}

/** `<OCR_WITH_REGION>`: a quadrilateral per line of text. */
export interface QuadBoxesResult {
  /** `[x1, y1, x2, y2, x3, y3, x4, y4]` in pixels, corners in the order the model wrote them. */
  quad_boxes: number[][];
  labels: string[];
}

/** `<REFERRING_EXPRESSION_SEGMENTATION>`, `<REGION_TO_SEGMENTATION>`. */
export interface PolygonsResult {
  /** `polygons[instance][polygon]` is a flat `[x, y, x, y, ...]` list in pixels; one label per instance. */
  polygons: number[][][];
  labels: string[];
}

/** `<OPEN_VOCABULARY_DETECTION>`: boxes, or polygons when the text holds `<poly>`; the other pair is empty. */
export interface OpenVocabularyResult {
  bboxes: number[][];
  bboxes_labels: string[];
  polygons: number[][][];
  polygons_labels: string[];
}

/** The result shape of each `ResultKind` (`TaskSpec.resultKind`). */
export interface ResultByKind {
  pure_text: string;
  ocr: QuadBoxesResult;
  description_with_bboxes: BoxesResult;
  bboxes: BoxesResult;
  phrase_grounding: BoxesResult;
  polygons: PolygonsResult;
  description_with_bboxes_or_polygons: OpenVocabularyResult;
}

/** Any task's result: the value under the task key of `postProcessGeneration`'s answer. */
export type TaskResult = ResultByKind[ResultKind];

/** A result tagged with its kind, for exhaustive `switch (r.kind)` in drawing and printing code. */
export type KindedResult = { [K in ResultKind]: { kind: K; value: ResultByKind[K] } }[ResultKind];

/** How the reference parses a task's text: its `tasks_answer_post_processing_type`, pure text for anything unknown. */
export function resultKindOf(task: string): ResultKind {
  return findTask(task)?.resultKind ?? "pure_text";
}

/**
 * The reference's `post_process_generation(text, task, image_size)`: `{ [task]: result }`, where the
 * result's shape follows the task's `ResultKind`. `imageSize` is the original image's `{ width, height }` (the
 * reference's `image_size` is the pair (width, height)). Unknown tasks, lowercase ones included (`"<od>"`,
 * `"OD"`), fall back to pure text under the given key, as in the reference. Never throws on any text; an
 * `imageSize` that is not two finite numbers >= 0 is a programming error and throws.
 */
export function postProcessGeneration(text: string, task: string, imageSize: ImageSize): Record<string, TaskResult> {
  return { [task]: parseGeneration(text, resultKindOf(task), imageSize) };
}

/** `postProcessGeneration` without the task key, typed by kind. */
export function parseGeneration<K extends ResultKind>(text: string, kind: K, imageSize: ImageSize): ResultByKind[K] {
  checkImageSize(imageSize, "imageSize", { allowZero: true });
  const parse = PARSERS[kind] as (text: string, size: ImageSize) => ResultByKind[K];
  return parse(String(text), imageSize);
}

/** The parsed result tagged with its kind (see `KindedResult`). */
export function parseGenerationKinded(text: string, task: string, imageSize: ImageSize): KindedResult {
  const kind = resultKindOf(task);
  return { kind, value: parseGeneration(text, kind, imageSize) } as KindedResult;
}

const PARSERS: { [K in ResultKind]: (text: string, size: ImageSize) => ResultByKind[K] } = {
  pure_text: parsePureText,
  ocr: parseOcr,
  description_with_bboxes: (text, size) => toBoxesResult(parseBoxes(text, size, { allowEmptyPhrase: false })),
  bboxes: (text, size) => toBoxesResult(parseBoxes(text, size, { allowEmptyPhrase: true })),
  phrase_grounding: (text, size) => toBoxesResult(parsePhraseGrounding(text, size)),
  polygons: (text, size) => toPolygonsResult(parsePolygons(text, size, { allowEmptyPhrase: true })),
  description_with_bboxes_or_polygons: parseBoxesOrPolygons,
};

// ---------------------------------------------------------------------------------------------------------
// Python string semantics

/** Characters for which Python's `str.isspace()` is true: its `\s` and what `str.strip()` removes. */
const PY_WHITESPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_WHITESPACE_CHAR = new RegExp(`^[${PY_WHITESPACE}]$`);

/** Python's `str.strip()` (not `trim()`, which also strips U+FEFF and keeps U+001C..U+001F and U+0085). */
function pyStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PY_WHITESPACE_CHAR.test(text[start])) start++;
  while (end > start && PY_WHITESPACE_CHAR.test(text[end - 1])) end--;
  return text.slice(start, end);
}

/** Python's `str.replace(token, '')`: every non-overlapping occurrence, left to right. */
function removeAll(text: string, token: string): string {
  return text.split(token).join("");
}

/** `phrase.encode('ascii', errors='ignore').decode('ascii')`: every non-ASCII character deleted (quirk 4). */
function asciiOnly(text: string): string {
  return text.replace(/[^\x00-\x7f]+/g, "");
}

// ---------------------------------------------------------------------------------------------------------
// Patterns (the reference's, in JavaScript syntax with Python semantics; see the file comment)

/** `<loc_\d+>` and `<loc_(\d+)>`, with Python's `\d` (loc-bins.ts' reference reader). */
const LOC = LOC_TOKEN_SOURCE;
const LOC_CAPTURE = LOC_BIN_SOURCE;
const POLYGON_TOKEN = String.raw`(?:${LOC}|<sep>|<poly>|<\/poly>)`;
/** The lookahead that ends a label: the reference's `(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_)`. */
const LABEL_END = String.raw`<od>|<\/od>|<box>|<\/box>|<bbox>|<\/bbox>|<loc_`;

/** `([^<]+(?:<loc_\d+>){4,})`: a label and its boxes. `[^<]` may start inside a loc token (quirk 5). */
const LABELLED_LOC_RUN = new RegExp(String.raw`[^<]+(?:${LOC}){4,}`, "uy");
/** `(?:(?:<loc_\d+>){4,})`: boxes without labels (`<REGION_PROPOSAL>`). */
const LOC_RUN = new RegExp(String.raw`(?:${LOC}){4,}`, "gu");
/**
 * `^\s*(.*?)(?=...)`: `.` stops at `\n`, so a label holding or ending in `\n` does not match (quirk 6).
 * `(?=(\s*))\1` is `\s*` made atomic: giving back leading whitespace never turns a failure into a match
 * here, and not retrying keeps long whitespace linear.
 */
const BOX_LABEL = new RegExp(String.raw`^(?=([${PY_WHITESPACE}]*))\1[^\n]*?(?=${LABEL_END})`, "u");
const BOX = new RegExp(LOC_CAPTURE.repeat(4), "gu");
/** `(.+?)<loc_(\d+)>` x 8: the lazy label may swallow stray loc tokens (quirk 11). */
const OCR_LINE = new RegExp(String.raw`([^\n]+?)` + LOC_CAPTURE.repeat(8), "uy");

/** Segmentation runs: >= 4 tokens of {loc, `<sep>`, `<poly>`, `</poly>`}, unlabelled or after a label (quirk 10). */
const POLYGON_RUN = new RegExp(String.raw`${POLYGON_TOKEN}{4,}`, "gu");
const LABELLED_POLYGON_RUN = new RegExp(String.raw`[^<]+${POLYGON_TOKEN}{4,}`, "uy");
/** The polygon parser's `re.sub(r'^loc_\d+>', '', ...)` before it looks for the label. */
const LEADING_LOC_TAIL = /^loc_\p{Nd}+>/u;
/** Like BOX_LABEL, but a label also ends at `<poly>`; a run starting with `<sep>` gets the label `"<sep>"`. */
const POLYGON_LABEL = new RegExp(String.raw`^(?=([${PY_WHITESPACE}]*))\1[^\n]*?(?=${LABEL_END}|<poly>)`, "u");
/** `<poly>(.*?)</poly>`: one instance. */
const POLYGON_INSTANCE = /<poly>([^\n]*?)<\/poly>/uy;
/** `((?:<loc_\d+>)+)(?:<sep>|$)`: one polygon; a loc run followed by anything else is dropped. */
const POLYGON = new RegExp(String.raw`((?:${LOC})+)(?:<sep>|(?=\n?$))`, "uy");
const LOCS = new RegExp(String.raw`(?:${LOC})+`, "uy");

/**
 * Python's `re.findall` / `re.finditer` for a sticky pattern: the same matches as a global scan, but after
 * a failed attempt at `failedAt` the scan resumes at `resume(text, failedAt)`, a position before which the
 * pattern's shape guarantees no match can start. A plain global scan retries every position, which on
 * long unmatched text (a degenerate generation) is quadratic, in Python as in JavaScript.
 */
function findAll(text: string, pattern: RegExp, resume: (text: string, failedAt: number) => number): RegExpExecArray[] {
  const matches: RegExpExecArray[] = [];
  let position = 0;
  while (position < text.length) {
    pattern.lastIndex = position;
    const match = pattern.exec(text);
    if (match) {
      matches.push(match);
      position = pattern.lastIndex;
    } else {
      position = resume(text, position);
    }
  }
  return matches;
}

/** For `[^<]+...`: a failure at p fails at every start up to the next `<` (the same `[^<]+` run, then `<`). */
function afterNextLessThan(text: string, failedAt: number): number {
  const next = text.indexOf("<", failedAt);
  return next < 0 ? text.length : next + 1;
}

/** For `(.+?)<loc>x8`: a failure at p means no 8 locs before the line ends, so no later start on that line. */
function afterNextNewline(text: string, failedAt: number): number {
  const next = text.indexOf("\n", failedAt);
  return next < 0 ? text.length : next + 1;
}

/** For `<poly>(.*?)</poly>`: after a `<poly>` with no `</poly>` on its line, no later `<poly>` on it closes either. */
function afterFailedPolyStart(text: string, failedAt: number): number {
  if (text.startsWith("<poly>", failedAt)) return afterNextNewline(text, failedAt);
  const next = text.indexOf("<poly>", failedAt + 1);
  return next < 0 ? text.length : next;
}

/** For `((?:<loc>)+)(?:<sep>|$)`: a loc run not followed by `<sep>` or the end fails from each of its locs. */
function afterLocRun(text: string, failedAt: number): number {
  LOCS.lastIndex = failedAt;
  return LOCS.test(text) ? LOCS.lastIndex : failedAt + 1;
}

/**
 * Phrases dropped by `<CAPTION_TO_PHRASE_GROUNDING>` (the reference's `_create_black_list_of_phrase_grounding`),
 * matched exactly and case-sensitively against the stripped phrase, before non-ASCII deletion (quirk 8).
 */
const PHRASE_GROUNDING_BLACKLIST: ReadonlySet<string> = new Set([
  "it", "I", "me", "mine", "you", "your", "yours", "he", "him", "his", "she", "her", "hers",
  "they", "them", "their", "theirs", "one", "oneself", "we", "us", "our", "ours", "its",
  "myself", "yourself", "himself", "herself", "itself", "ourselves", "yourselves", "themselves",
  "this", "that", "these", "those", "who", "whom", "whose", "which", "what",
  "all", "another", "any", "anybody", "anyone", "anything", "each", "everybody", "everyone", "everything",
  "few", "many", "nobody", "none", "several", "some", "somebody", "someone", "something",
  "each other", "one another", "the image", "image", "images", "the", "a", "an", "a group",
  "other objects", "lots", "a set",
]);

// ---------------------------------------------------------------------------------------------------------
// Parsers, one per result kind

interface BoxInstance {
  bbox: number[];
  label: string;
}

interface PolygonInstance {
  polygons: number[][];
  label: string;
}

/** Pure text: only `<s>` and `</s>` go, everywhere, in that order; no strip (quirk 3). */
function parsePureText(text: string): string {
  return removeAll(removeAll(text, "<s>"), "</s>");
}

/** The bbox and polygon parsers first drop `<s>`, `</s>` and `<pad>`, so a `</s>` inside joins its neighbours. */
function removeSequenceTokens(text: string): string {
  return removeAll(removeAll(removeAll(text, "<s>"), "</s>"), "<pad>");
}

/** `description_with_bboxes` and `bboxes`: every full group of 4 locs after a label is a box (quirks 4, 5, 7). */
function parseBoxes(text: string, size: ImageSize, options: { allowEmptyPhrase: boolean }): BoxInstance[] {
  const instances: BoxInstance[] = [];
  for (const [phraseText] of phraseRuns(removeSequenceTokens(text), options.allowEmptyPhrase ? LOC_RUN : undefined)) {
    const label = boxLabel(phraseText);
    if (label === undefined) continue;
    const ascii = asciiOnly(label);
    for (const bbox of boxesIn(phraseText, size)) instances.push({ bbox, label: ascii });
  }
  return instances;
}

/** Like `description_with_bboxes`, but blacklisted phrases (checked before non-ASCII deletion) are dropped. */
function parsePhraseGrounding(text: string, size: ImageSize): BoxInstance[] {
  const instances: BoxInstance[] = [];
  for (const [phraseText] of phraseRuns(removeSequenceTokens(text), undefined)) {
    const label = boxLabel(phraseText);
    if (label === undefined || PHRASE_GROUNDING_BLACKLIST.has(label)) continue;
    const ascii = asciiOnly(label);
    for (const bbox of boxesIn(phraseText, size)) instances.push({ bbox, label: ascii });
  }
  return instances;
}

/** The `findall` of the box parsers: unlabelled runs (a global pattern) or labelled ones (sticky, see findAll). */
function phraseRuns(text: string, unlabelled: RegExp | undefined): RegExpMatchArray[] {
  return unlabelled ? [...text.matchAll(unlabelled)] : findAll(text, LABELLED_LOC_RUN, afterNextLessThan);
}

/** The stripped text before the first loc token, or undefined where the reference's label search fails. */
function boxLabel(phraseText: string): string | undefined {
  const match = BOX_LABEL.exec(phraseText);
  return match ? pyStrip(match[0]) : undefined;
}

function boxesIn(phraseText: string, size: ImageSize): number[][] {
  return [...phraseText.matchAll(BOX)].map((m) => dequantizeCoordinates(m.slice(1, 5).map(locBin), size));
}

/**
 * OCR with regions: only `<s>` is removed, so the first label is usually `"</s>CUDA"`; labels are kept
 * as written (no strip, no ASCII filter) and zero-area quads are kept (quirk 11).
 */
function parseOcr(text: string, size: ImageSize): QuadBoxesResult {
  const result: QuadBoxesResult = { quad_boxes: [], labels: [] };
  for (const m of findAll(removeAll(text, "<s>"), OCR_LINE, afterNextNewline)) {
    result.quad_boxes.push(dequantizeCoordinates(m.slice(2, 10).map(locBin), size));
    result.labels.push(m[1]);
  }
  return result;
}

/**
 * Polygons (quirk 10): runs of >= 4 tokens from {loc, `<sep>`, `<poly>`, `</poly>`}; each `<poly>...</poly>`
 * pair (or the whole run) is an instance; inside it, polygons are loc runs ended by `<sep>` or the end.
 * With `allowEmptyPhrase` false (open-vocabulary detection) a run needs a label before it.
 */
function parsePolygons(text: string, size: ImageSize, options: { allowEmptyPhrase: boolean }): PolygonInstance[] {
  const instances: PolygonInstance[] = [];
  const cleaned = removeSequenceTokens(text);
  const runs = options.allowEmptyPhrase ? [...cleaned.matchAll(POLYGON_RUN)] : findAll(cleaned, LABELLED_POLYGON_RUN, afterNextLessThan);
  for (const [phraseText] of runs) {
    const labelMatch = POLYGON_LABEL.exec(phraseText.replace(LEADING_LOC_TAIL, ""));
    if (!labelMatch) continue;
    const label = pyStrip(labelMatch[0]);
    for (const instanceText of polygonInstanceTexts(phraseText)) {
      const polygons = findAll(instanceText, POLYGON, afterLocRun).map((m) => polygonCoordinates(m[1], size));
      if (polygons.length > 0) instances.push({ polygons, label });
    }
  }
  return instances;
}

/** Each `<poly>...</poly>` is one instance when both tokens occur in the run; otherwise the run is one. */
function polygonInstanceTexts(phraseText: string): string[] {
  if (phraseText.includes("<poly>") && phraseText.includes("</poly>")) {
    return findAll(phraseText, POLYGON_INSTANCE, afterFailedPolyStart).map((m) => m[1]);
  }
  return [phraseText];
}

/** A flat `[x, y, ...]` list; an odd number of locs drops the last one, so one loc gives `[]`. */
function polygonCoordinates(locRun: string, size: ImageSize): number[] {
  const bins = locBinsIn(locRun);
  return dequantizeCoordinates(bins.length % 2 === 1 ? bins.slice(0, -1) : bins, size);
}

/**
 * Open-vocabulary detection: a `<poly>` anywhere in the raw text sends all of it through the labelled
 * polygon parser (labels keep non-ASCII there); otherwise the box parser (quirk 9).
 */
function parseBoxesOrPolygons(text: string, size: ImageSize): OpenVocabularyResult {
  if (text.includes("<poly>")) {
    const polygons = toPolygonsResult(parsePolygons(text, size, { allowEmptyPhrase: false }));
    return { bboxes: [], bboxes_labels: [], polygons: polygons.polygons, polygons_labels: polygons.labels };
  }
  const boxes = toBoxesResult(parseBoxes(text, size, { allowEmptyPhrase: false }));
  return { bboxes: boxes.bboxes, bboxes_labels: boxes.labels, polygons: [], polygons_labels: [] };
}

function toBoxesResult(instances: BoxInstance[]): BoxesResult {
  return { bboxes: instances.map((i) => i.bbox), labels: instances.map((i) => i.label) };
}

function toPolygonsResult(instances: PolygonInstance[]): PolygonsResult {
  return { polygons: instances.map((i) => i.polygons), labels: instances.map((i) => i.label) };
}
