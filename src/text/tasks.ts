/**
 * The one table of Florence-2 tasks. Prompts, post-processing, drawing, notebooks and the walkthrough
 * command are all driven from here, so a task's name is spelled once.
 *
 * Prompts and result kinds are those of Microsoft's `processing_florence2.py` (the processor the Colab
 * walkthrough ran): `task_prompts_without_inputs`, `task_prompts_with_input` and
 * `tasks_answer_post_processing_type`.
 */

/** How the reference's `post_process_generation` parses a task's generated text. */
export type ResultKind =
  | "pure_text"
  | "ocr"
  | "description_with_bboxes"
  | "bboxes"
  | "phrase_grounding"
  | "polygons"
  | "description_with_bboxes_or_polygons";

/** What a task needs besides the image: nothing, free text (a phrase or caption), or a region of the image. */
export type TaskInput = "none" | "text" | "region";

export interface TaskSpec {
  /** The task token as the reference spells it, e.g. `"<OD>"`. Results are keyed by it. */
  token: string;
  /** The token without brackets, e.g. `"OD"`: the walkthrough's name for the task. */
  name: string;
  /** The English prompt sent to the tokenizer; `{input}` marks where the task input goes. */
  prompt: string;
  input: TaskInput;
  resultKind: ResultKind;
  /** Position in the reference's prompt dicts: with several task tokens in one text, the first in this order wins. */
  referenceOrder: number;
  /** Whether the Colab walkthrough runs this task (all but `<REGION_TO_OCR>`). */
  inWalkthrough: boolean;
  /** The walkthrough's Japanese heading for the task. */
  japaneseName?: string;
  /** One sentence for notebooks and `--help`: what the task does and what it returns. */
  summary: string;
}

/** In the walkthrough's order, then `<REGION_TO_OCR>`, which the reference has but the walkthrough does not run. */
export const TASKS: readonly TaskSpec[] = [
  {
    token: "<CAPTION>", name: "CAPTION", prompt: "What does the image describe?", input: "none",
    resultKind: "pure_text", referenceOrder: 2, inWalkthrough: true, japaneseName: "キャプション",
    summary: "A one-sentence caption of the whole image.",
  },
  {
    token: "<DETAILED_CAPTION>", name: "DETAILED_CAPTION", prompt: "Describe in detail what is shown in the image.",
    input: "none", resultKind: "pure_text", referenceOrder: 3, inWalkthrough: true, japaneseName: "詳細なキャプション",
    summary: "A caption of a few sentences.",
  },
  {
    token: "<MORE_DETAILED_CAPTION>", name: "MORE_DETAILED_CAPTION",
    prompt: "Describe with a paragraph what is shown in the image.", input: "none", resultKind: "pure_text",
    referenceOrder: 4, inWalkthrough: true, japaneseName: "より詳細なキャプション",
    summary: "A paragraph describing the image.",
  },
  {
    token: "<OD>", name: "OD", prompt: "Locate the objects with category name in the image.", input: "none",
    resultKind: "description_with_bboxes", referenceOrder: 5, inWalkthrough: true, japaneseName: "物体検出",
    summary: "Object detection: a box and a category name for each object found.",
  },
  {
    token: "<DENSE_REGION_CAPTION>", name: "DENSE_REGION_CAPTION",
    prompt: "Locate the objects in the image, with their descriptions.", input: "none",
    resultKind: "description_with_bboxes", referenceOrder: 6, inWalkthrough: true, japaneseName: "高密度領域キャプション",
    summary: "Boxes for many regions, each with a short description.",
  },
  {
    token: "<REGION_PROPOSAL>", name: "REGION_PROPOSAL", prompt: "Locate the region proposals in the image.",
    input: "none", resultKind: "bboxes", referenceOrder: 7, inWalkthrough: true, japaneseName: "領域提案",
    summary: "Boxes around regions that probably hold an object, without labels.",
  },
  {
    token: "<CAPTION_TO_PHRASE_GROUNDING>", name: "CAPTION_TO_PHRASE_GROUNDING",
    prompt: "Locate the phrases in the caption: {input}", input: "text", resultKind: "phrase_grounding",
    referenceOrder: 8, inWalkthrough: true, japaneseName: "キャプションからフレーズへの接地",
    summary: "Given a caption, a box for each phrase of it that names something in the image.",
  },
  {
    token: "<OPEN_VOCABULARY_DETECTION>", name: "OPEN_VOCABULARY_DETECTION", prompt: "Locate {input} in the image.",
    input: "text", resultKind: "description_with_bboxes_or_polygons", referenceOrder: 11, inWalkthrough: true,
    japaneseName: "オープンボキャブラリー物体検出",
    summary: "Given any phrase, boxes (or polygons) around what it names.",
  },
  {
    token: "<REFERRING_EXPRESSION_SEGMENTATION>", name: "REFERRING_EXPRESSION_SEGMENTATION",
    prompt: "Locate {input} in the image with mask", input: "text", resultKind: "polygons", referenceOrder: 9,
    inWalkthrough: true, japaneseName: "参照セグメンテーション",
    summary: "Given a phrase, a polygon mask of what it refers to.",
  },
  {
    token: "<REGION_TO_SEGMENTATION>", name: "REGION_TO_SEGMENTATION",
    prompt: "What is the polygon mask of region {input}", input: "region", resultKind: "polygons",
    referenceOrder: 10, inWalkthrough: true, japaneseName: "領域指定セグメンテーション",
    summary: "Given a box, a polygon mask of the object inside it.",
  },
  {
    token: "<REGION_TO_CATEGORY>", name: "REGION_TO_CATEGORY", prompt: "What is the region {input}?",
    input: "region", resultKind: "pure_text", referenceOrder: 12, inWalkthrough: true, japaneseName: "領域→カテゴリー",
    summary: "Given a box, the category of what is inside it.",
  },
  {
    token: "<REGION_TO_DESCRIPTION>", name: "REGION_TO_DESCRIPTION", prompt: "What does the region {input} describe?",
    input: "region", resultKind: "pure_text", referenceOrder: 13, inWalkthrough: true, japaneseName: "領域→説明",
    summary: "Given a box, a short description of what is inside it.",
  },
  {
    token: "<OCR>", name: "OCR", prompt: "What is the text in the image?", input: "none", resultKind: "pure_text",
    referenceOrder: 0, inWalkthrough: true, japaneseName: "単純OCR",
    summary: "All the text in the image, as one string (the model emits no line breaks).",
  },
  {
    token: "<OCR_WITH_REGION>", name: "OCR_WITH_REGION", prompt: "What is the text in the image, with regions?",
    input: "none", resultKind: "ocr", referenceOrder: 1, inWalkthrough: true, japaneseName: "領域検出OCR",
    summary: "Each line of text in the image with the quadrilateral around it.",
  },
  {
    token: "<REGION_TO_OCR>", name: "REGION_TO_OCR", prompt: "What text is in the region {input}?", input: "region",
    resultKind: "pure_text", referenceOrder: 14, inWalkthrough: false,
    summary: "Given a box, the text inside it.",
  },
];

/** The 14 tasks the Colab walkthrough runs, in its order. */
export const WALKTHROUGH_TASKS: readonly TaskSpec[] = TASKS.filter((t) => t.inWalkthrough);

const BY_TOKEN = new Map(TASKS.map((t) => [t.token, t]));
const BY_NAME = new Map(TASKS.map((t) => [t.name, t]));

/** The task spec for a token (`"<OD>"`), or undefined for anything else (lowercase included, as in the reference). */
export function findTask(token: string): TaskSpec | undefined {
  return BY_TOKEN.get(token);
}

/**
 * The task spec for `"<OD>"` or `"OD"`. Throws an error that lists the known tasks when there is none,
 * for API entry points where an unknown task is a user mistake (post-processing instead falls back to
 * pure text, as the reference does).
 */
export function getTask(tokenOrName: string): TaskSpec {
  const spec = BY_TOKEN.get(tokenOrName) ?? BY_NAME.get(tokenOrName);
  if (spec) return spec;
  const upper = tokenOrName.toUpperCase();
  const hint = BY_TOKEN.get(upper) ?? BY_NAME.get(upper);
  const suggestion = hint ? ` Task tokens are upper-case: did you mean "${hint.token}"?` : "";
  throw new Error(
    `Unknown Florence-2 task "${tokenOrName}".${suggestion} Expected one of: ${TASKS.map((t) => t.token).join(", ")}.`,
  );
}
