/** The models this project loads by id, and the Hub's defaults. */

/** The Florence-2 exports in the onnx-community layout that this project loads by id. */
export const FLORENCE2_MODELS = [
  "onnx-community/Florence-2-base-ft",
  "onnx-community/Florence-2-large-ft",
  "onnx-community/Florence-2-base",
  "onnx-community/Florence-2-large",
] as const;
export const DEFAULT_MODEL = FLORENCE2_MODELS[0];
export const DEFAULT_ENDPOINT = "https://huggingface.co";
export const DEFAULT_REVISION = "main";
