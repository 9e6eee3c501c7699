/**
 * florence2-ts: Microsoft's Florence-2 on onnxruntime-node.
 *
 * Data flow, one module per stage:
 *   image    --image.ts-->     pixel tensor [1, 3, 768, 768] --vision_encoder--> image features [1, 577, D]
 *   task     --prompts.ts-->   prompt --tokenizer.ts--> ids --embed_tokens--> embeddings
 *   features + embeddings --encoder_model (encoders.ts)--> encoder states
 *            --generation.ts (decoder-step.ts, search-strategy.ts, beam-search.ts, logits-processors.ts)--> ids
 *   ids      --tokenizer.ts--> text --postprocess.ts--> the reference's structured result
 *   result   --overlay.ts--> shapes --draw.ts--> PNG --display.ts--> notebook
 * florence2.ts wires these together; sessions.ts opens the ONNX graphs (device.ts picks CPU, CUDA or WebGPU for them);
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
export type { EarlyStopping } from "./decode/beam-search";
export type { GenerationStats, StepsByRows } from "./decode/generation";
export { defaultSessionOptions } from "./runtime/sessions";
export { ModelLoadError, type ModelLoadErrorKind } from "./runtime/load-errors";
export { float16ToFloat32, float32ToFloat16 } from "./runtime/float16";
export type { SessionSettings } from "./runtime/sessions";
export { chooseDevice, DeviceError, DEVICE_OPTIONS, DEVICE_ENV, CUDA_INSTALL_COMMAND } from "./runtime/device";
export type { DeviceOption, DeviceChoice, DeviceReport, DeviceProbe, ModulePlacement } from "./runtime/device";
export type { WebGpuAdapter } from "./runtime/webgpu";
export { liveProgress, formatLiveLine } from "./notebook/live-progress";
export type { LiveProgress, LiveProgressOptions, LiveProgressMode, LiveProgressStats } from "./notebook/live-progress";

export { TASKS, WALKTHROUGH_TASKS, findTask, getTask } from "./text/tasks";
export type { TaskSpec, ResultKind, TaskInput } from "./text/tasks";

export { loadImageRgb, preprocessImage, ImageLoadError, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_BYTES } from "./image/image";
export type { ImageInput, ImageSize, RgbImage, LoadImageOptions, PreprocessedImage } from "./image/image";
export { resizeBicubic } from "./image/resize";

export { constructPrompt, buildPrompt, boxToLocTokens } from "./text/prompts";
export type { PixelBox } from "./text/prompts";
export { quantize, dequantize, QUANTIZATION_BINS } from "./text/loc-bins";
export { Florence2Tokenizer } from "./text/tokenizer";
export { postProcessGeneration, parseGeneration, parseGenerationKinded, resultKindOf } from "./text/postprocess";
export type {
  BoxesResult, QuadBoxesResult, PolygonsResult, OpenVocabularyResult, ResultByKind, TaskResult, KindedResult,
} from "./text/postprocess";

export { drawResult, renderImage } from "./notebook/draw";
export { labelColor, textColorOn, PALETTE } from "./notebook/overlay";
export type { DrawOptions, Drawing, RenderOptions } from "./notebook/draw";
export { show, showImage, showResult, showTable, showText, inTslab } from "./notebook/display";
export { renderTable, renderTextTable, renderHtmlTable, escapeHtml } from "./notebook/table";
export type { TableSpec, TableColumn, TextAndHtml } from "./notebook/table";
export type { ShowOptions } from "./notebook/display";
export { time, startTimer, formatTime, formatCellTimes } from "./notebook/timing";
export type { CellTimes, Timed, TimeOptions, Timer } from "./notebook/timing";

export {
  resolveModelFolder, HubError, modelCacheFolder, defaultCacheDir, requiredFiles, downloadToFile, FLORENCE2_MODELS,
  DEFAULT_MODEL,
} from "./hub/index";
export type { ResolveOptions, HubErrorCode } from "./hub/index";
export type { ProgressOption, ProgressSnapshot } from "./hub/download-progress";

export { DTYPE_SUFFIX, MODULES, resolveDtypes, onnxFilePath } from "./runtime/dtypes";
export type { Dtype, DtypeOption, ModuleName } from "./runtime/dtypes";
export {
  readModelConfig, readGenerationConfig, readPreprocessorConfig, readModelJson, DEFAULT_PREPROCESSOR_CONFIG,
} from "./runtime/config";
export type { ModelConfig, GenerationConfig, PreprocessorConfig } from "./runtime/config";
