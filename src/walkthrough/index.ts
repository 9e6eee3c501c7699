/**
 * The walkthrough app's pieces, for the notebooks (`import { ... } from "./src/walkthrough/index"`) and `npm start`
 * (main.ts): the Colab walkthrough's settings, photos and example inputs, the seed's timings, the timing table and
 * chart, the batched run's comparison, and the stand-in notice. It sits on the library (`src/index.ts`) and is not
 * part of it. `npm start -- --images` (images-run.ts) is for the command line only.
 */
export {
  WALKTHROUGH_SETTINGS, WALKTHROUGH_PHOTOS, WALKTHROUGH_STEPS, SAMPLE_IMAGE_URL, SAMPLE_IMAGE_SIZE,
  settingsLine, walkthroughStep, photoOf, walkthroughInput, scaleBox,
} from "./steps";
export type { GenerationSettings, WalkthroughPhoto, WalkthroughStep, PhotoId } from "./steps";
export { walkthroughPhotoFile, photoCacheFile } from "./photos";
export type { PhotoOptions } from "./photos";
export { SEED_TIMINGS, SEED_SETUP, SEED_DEVICE, seedWallSeconds, seedCpuTotalSeconds, parseIPythonTime } from "./seed-timings";
export type { SeedTiming } from "./seed-timings";
export { timingTable, timingTableDisplay, timingTableSpec, deviceText, modelText, BATCHED_NOTE, STANDIN_MARK } from "./timing-table";
export type { TaskRun, RunContext } from "./timing-table";
export { drawChart, layoutChart, drawWalkthroughChart, walkthroughChartSpec, SERIES_COLORS } from "./chart";
export type { ChartSpec, ChartSeries, ChartLayout, ChartBar } from "./chart";
export { STANDIN_NOTE, standInNote, isStandInFolder } from "./standin-note";
export { compareBatched, addBatchedShares, batchSummary, batchSummaryDisplay } from "./batched";
export type { BatchComparison } from "./batched";
