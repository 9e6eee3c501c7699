/**
 * florence2-ts: Microsoft's Florence-2 on onnxruntime-node.
 *
 * Data flow, one module per stage:
 *   image    --image.ts-->     pixel tensor [1, 3, 768, 768] --vision_encoder--> image features [1, 577, D]
 *   task     --prompts.ts-->   prompt --tokenizer.ts--> ids --embed_tokens--> embeddings
 *   features + embeddings --encoder_model (encoders.ts)--> encoder states
 *            --generation.ts (decoder-cache.ts, token-decoder.ts, beam-search.ts, logits.ts)--> ids
 *   ids      --tokenizer.ts--> text --postprocess.ts--> the reference's structured result
 *   result   --overlay.ts--> shapes --draw.ts--> PNG --display.ts--> notebook
 * florence2.ts wires these together; sessions.ts opens the ONNX graphs (device.ts picks CPU or CUDA for them);
 * hub/ downloads and caches models; live-progress.ts shows a task's tokens as they come.
 *
 * The walkthrough app (`npm start`, the notebooks' inputs and timing table) is src/walkthrough/, built on this entry;
 * the stand-in model generator for tests is src/standin/.
 */
export { Florence2, DEFAULT_MAX_BATCH_ROWS, defaultMaxBatchRows } from "./florence2";
export type {
  LoadOptions, RunOptions, RunOutput, RunTimings, ImageFeatures, GenerateOutput, BatchRequest, BatchOptions, RequestOptions,
  BatchTimings,
} from "./florence2";
export type { EarlyStopping } from "./beam-search";
export type { GenerationStats, StepsByRows } from "./generation";
export { defaultSessionOptions } from "./sessions";
export { float16ToFloat32, float32ToFloat16 } from "./float16";
export type { SessionSettings } from "./sessions";
export { chooseDevice, DeviceError, DEVICE_OPTIONS, DEVICE_ENV, CUDA_INSTALL_COMMAND } from "./device";
export type { DeviceOption, DeviceChoice, DeviceReport, DeviceProbe } from "./device";
export { liveProgress, formatLiveLine } from "./live-progress";
export type { LiveProgress, LiveProgressOptions, LiveProgressMode, LiveProgressStats } from "./live-progress";

export { TASKS, WALKTHROUGH_TASKS, findTask, getTask } from "./tasks";
export type { TaskSpec, ResultKind, TaskInput } from "./tasks";

export { loadImageRgb, preprocessImage, ImageLoadError, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_BYTES } from "./image";
export type { ImageInput, ImageSize, RgbImage, LoadImageOptions, PreprocessedImage } from "./image";
export { resizeBicubic } from "./resize";

export { constructPrompt, buildPrompt, boxToLocTokens } from "./prompts";
export type { PixelBox } from "./prompts";
export { quantize, dequantize, QUANTIZATION_BINS } from "./quantizer";
export { Florence2Tokenizer } from "./tokenizer";
export { postProcessGeneration, parseGeneration, parseGenerationKinded, resultKindOf } from "./postprocess";
export type {
  BoxesResult, QuadBoxesResult, PolygonsResult, OpenVocabularyResult, ResultByKind, TaskResult, KindedResult,
} from "./postprocess";

export { drawResult, renderImage } from "./draw";
export { labelColor, textColorOn, PALETTE } from "./overlay";
export type { DrawOptions, Drawing, RenderOptions } from "./draw";
export { show, showImage, showResult, showText, inTslab } from "./display";
export type { ShowOptions } from "./display";
export { time, startTimer, formatTime, formatCellTimes } from "./timing";
export type { CellTimes, Timed, TimeOptions, Timer } from "./timing";

export {
  resolveModelFolder, HubError, modelCacheFolder, defaultCacheDir, requiredFiles, downloadToFile, FLORENCE2_MODELS,
  DEFAULT_MODEL,
} from "./hub/index";
export type { ResolveOptions, HubErrorCode } from "./hub/index";
export type { ProgressOption, ProgressSnapshot } from "./progress";

export { DTYPE_SUFFIX, MODULES, resolveDtypes, onnxFilePath } from "./dtypes";
export type { Dtype, DtypeOption, ModuleName } from "./dtypes";
export {
  readModelConfig, readGenerationConfig, readPreprocessorConfig, readModelJson, DEFAULT_PREPROCESSOR_CONFIG,
} from "./config";
export type { ModelConfig, GenerationConfig, PreprocessorConfig } from "./config";
