/**
 * What the Colab walkthrough (Florence-2-Colaboratory-Sample) runs, defined once for `npm start` and the notebooks:
 * its generation settings, its two photos, and for each task the photo it uses and its example input.
 *
 * Region inputs are boxes in pixels of the photo they were picked on; `walkthroughInput` scales them to the image
 * actually loaded (the user's own photo may be any size), so a notebook or `npm start` runs on any image.
 */
import { WALKTHROUGH_TASKS, getTask, type ImageSize, type PixelBox, type RunOptions, type TaskSpec } from "../index";

/** The three generation settings the walkthrough passes, as RunOptions. */
export type GenerationSettings = Required<Pick<RunOptions, "numBeams" | "maxNewTokens" | "earlyStopping">>;

/**
 * The walkthrough's `model.generate(..., num_beams=3, max_new_tokens=1024, early_stopping=False)` as run options,
 * for `npm start` and every notebook. `early_stopping=False` matters: generation_config.json says True, which ends
 * beam search sooner.
 */
export const WALKTHROUGH_SETTINGS: Readonly<GenerationSettings> = { numBeams: 3, maxNewTokens: 1024, earlyStopping: false };

/** `num_beams=3, max_new_tokens=1024, early_stopping=False`: the settings as the walkthrough's Python spells them. */
export function settingsLine(settings: GenerationSettings): string {
  const early =
    settings.earlyStopping === true ? "True" : settings.earlyStopping === false ? "False" : JSON.stringify(settings.earlyStopping);
  return `num_beams=${settings.numBeams}, max_new_tokens=${settings.maxNewTokens}, early_stopping=${early}`;
}

/** A photo of the walkthrough, fetched by URL from its repository (the project does not redistribute them). */
export interface WalkthroughPhoto {
  /** The file name in the walkthrough's repository and in the cache. */
  file: string;
  url: string;
  width: number;
  height: number;
  /** What it shows, for output lines. */
  description: string;
}

const PHOTO_BASE_URL = "https://raw.githubusercontent.com/Kazuhito00/Florence-2-Colaboratory-Sample/main/";

/** The walkthrough's two photos (from the free stock site pakutaso), both 1600x1066. */
export const WALKTHROUGH_PHOTOS = {
  street: {
    file: "sample.jpg",
    url: `${PHOTO_BASE_URL}sample.jpg`,
    width: 1600,
    height: 1066,
    description: "a rainy crossing with pedestrians, umbrellas and a blue car",
  },
  market: {
    file: "sample2.jpg",
    url: `${PHOTO_BASE_URL}sample2.jpg`,
    width: 1600,
    height: 1066,
    description: "Pike Place Market at night, with neon signs and a lettered truck",
  },
} as const satisfies Record<string, WalkthroughPhoto>;

export type PhotoId = keyof typeof WALKTHROUGH_PHOTOS;

/** The first photo's URL and size, which the region inputs below were picked on. */
export const SAMPLE_IMAGE_URL: string = WALKTHROUGH_PHOTOS.street.url;
export const SAMPLE_IMAGE_SIZE: ImageSize = { width: WALKTHROUGH_PHOTOS.street.width, height: WALKTHROUGH_PHOTOS.street.height };

/** One task of the walkthrough: the photo it runs on and its example input (in pixels of that photo). */
export interface WalkthroughStep {
  task: TaskSpec;
  photo: PhotoId;
  /** A phrase for text tasks, a box for region tasks, nothing for the others. */
  input?: string | PixelBox;
}

/** The blue car in the middle of the street photo, and the red umbrella left of it. */
const BLUE_CAR: PixelBox = { x1: 1074, y1: 336, x2: 1356, y2: 626 };
const RED_UMBRELLA: PixelBox = { x1: 702, y1: 464, x2: 854, y2: 540 };

/** Keyed by task token; a task not listed runs on the street photo without input. */
const STEP_DETAILS: Readonly<Record<string, Omit<WalkthroughStep, "task">>> = {
  "<CAPTION_TO_PHRASE_GROUNDING>": {
    photo: "street",
    input: "A woman with a red umbrella crosses the street in front of a blue car.",
  },
  "<OPEN_VOCABULARY_DETECTION>": { photo: "street", input: "umbrella" },
  "<REFERRING_EXPRESSION_SEGMENTATION>": { photo: "street", input: "the blue car" },
  "<REGION_TO_SEGMENTATION>": { photo: "street", input: BLUE_CAR },
  "<REGION_TO_CATEGORY>": { photo: "street", input: RED_UMBRELLA },
  "<REGION_TO_DESCRIPTION>": { photo: "street", input: BLUE_CAR },
  // The walkthrough reads text on its second photo: the crossing has almost none.
  "<OCR>": { photo: "market" },
  "<OCR_WITH_REGION>": { photo: "market" },
};

/** The walkthrough's 14 tasks, in its order, each with its photo and example input. */
export const WALKTHROUGH_STEPS: readonly WalkthroughStep[] = WALKTHROUGH_TASKS.map((task) => ({
  task,
  ...(STEP_DETAILS[task.token] ?? { photo: "street" }),
}));

/** The step of a walkthrough task, by token (`"<OD>"`), name (`"OD"`) or spec. */
export function walkthroughStep(task: string | TaskSpec): WalkthroughStep {
  const spec = typeof task === "string" ? getTask(task) : task;
  const step = WALKTHROUGH_STEPS.find((s) => s.task.token === spec.token);
  if (!step) {
    const known = WALKTHROUGH_STEPS.map((s) => s.task.name).join(", ");
    throw new Error(`${spec.token} is not one of the walkthrough's tasks (${known}), so it has no example input or photo.`);
  }
  return step;
}

/** The photo a walkthrough task runs on. */
export function photoOf(task: string | TaskSpec): WalkthroughPhoto {
  return WALKTHROUGH_PHOTOS[walkthroughStep(task).photo];
}

/**
 * A task's example input for an image of `size`: a phrase as it is, a box scaled from the task's photo to the
 * image (see `scaleBox`); undefined for tasks without input.
 */
export function walkthroughInput(task: string | TaskSpec, size: ImageSize): string | PixelBox | undefined {
  const step = walkthroughStep(task);
  if (step.input === undefined || typeof step.input === "string") return step.input;
  return scaleBox(step.input, WALKTHROUGH_PHOTOS[step.photo], size);
}

/**
 * A box on an image of size `from`, moved to an image of size `to` (each side scaled on its own, as the picture
 * is). Edges are rounded outwards so that the box keeps at least one pixel each way, even on a tiny image, and
 * stays inside it.
 */
export function scaleBox(box: PixelBox, from: ImageSize, to: ImageSize): PixelBox {
  for (const [name, size] of [["from", from], ["to", to]] as const) {
    if (!(Number.isInteger(size.width) && Number.isInteger(size.height) && size.width > 0 && size.height > 0)) {
      throw new Error(`Expected image sizes of positive whole pixels for scaleBox but received ${name} ${JSON.stringify(size)}.`);
    }
  }
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  const x1 = Math.min(Math.floor(box.x1 * sx), to.width - 1);
  const y1 = Math.min(Math.floor(box.y1 * sy), to.height - 1);
  return {
    x1,
    y1,
    x2: Math.min(Math.max(Math.ceil(box.x2 * sx), x1 + 1), to.width),
    y2: Math.min(Math.max(Math.ceil(box.y2 * sy), y1 + 1), to.height),
  };
}
