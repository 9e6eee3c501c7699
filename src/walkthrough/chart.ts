/**
 * The timing table drawn: a horizontal bar chart (node-canvas, PNG) of each task's wall time, one group of bars per
 * task, one bar per series: this run, the seed's T4, and later a batched run. The title names the device and model.
 *
 * The chart is laid out first (`ChartLayout`: every bar's rectangle), then painted from the layout, so tests can
 * check that the pixels are where the layout says and that bar lengths follow the numbers.
 */
import { createCanvas, type CanvasRenderingContext2D } from "canvas";
import type { Drawing } from "../index";
import { SEED_DEVICE, SEED_SETUP, seedWallSeconds } from "./seed-timings";
import { deviceText, modelText, type RunContext, type TaskRun } from "./timing-table";

export interface ChartSeries {
  /** The legend's text. */
  label: string;
  /** `#rrggbb`. */
  color: string;
  /** One value per row, in seconds; undefined draws no bar ("–"). */
  seconds: readonly (number | undefined)[];
}

export interface ChartSpec {
  title: string;
  /** Lines under the title. */
  subtitle?: readonly string[];
  /** One label per row (task names). */
  rows: readonly string[];
  series: readonly ChartSeries[];
  /** Canvas width in pixels (default 1000). */
  width?: number;
}

export interface ChartBar {
  row: number;
  series: number;
  seconds: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartLayout {
  width: number;
  height: number;
  /** The bars' left edge (0 s) and the x of `axisMax` seconds. */
  plotLeft: number;
  plotRight: number;
  /** The top of the first row's bars and the bottom of the last row's. */
  plotTop: number;
  plotBottom: number;
  axisMax: number;
  /** The y of each row's middle, where its label goes. */
  rowCenters: number[];
  bars: ChartBar[];
}

/** Series colours: this run, the seed, a batched run (from the drawing palette, distinct for colour-blind readers). */
export const SERIES_COLORS = { thisRun: "#4363d8", seed: "#f58231", batched: "#3cb44b" } as const;

const FONT = '"DejaVu Sans", sans-serif';
const BACKGROUND = "#ffffff";
const TEXT = "#222222";
const GRID = "#dddddd";
const MARGIN = 16;
const TITLE_SIZE = 18;
const TEXT_SIZE = 13;
const LINE = 20;
const BAR_HEIGHT = 14;
const BAR_GAP = 2;
const GROUP_GAP = 10;
const LABEL_WIDTH = 300;
/** Room right of the longest bar for its value label. */
const VALUE_ROOM = 70;

/** Where everything goes; no drawing. */
export function layoutChart(spec: ChartSpec): ChartLayout {
  checkSpec(spec);
  const width = spec.width ?? 1000;
  const top = MARGIN + LINE + (spec.subtitle?.length ?? 0) * LINE + LINE + 8; // title, subtitles, legend
  const groupHeight = spec.series.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
  const plotLeft = MARGIN + LABEL_WIDTH;
  const plotRight = width - MARGIN - VALUE_ROOM;
  const values = spec.series.flatMap((s) => s.seconds.filter((v): v is number => v !== undefined));
  const axisMax = niceCeiling(Math.max(0, ...values));
  const scale = (plotRight - plotLeft) / axisMax;
  const bars: ChartBar[] = [];
  const rowCenters: number[] = [];
  spec.rows.forEach((_, row) => {
    const groupTop = top + row * (groupHeight + GROUP_GAP);
    rowCenters.push(groupTop + groupHeight / 2);
    spec.series.forEach((series, index) => {
      const seconds = series.seconds[row];
      if (seconds === undefined) return;
      bars.push({
        row,
        series: index,
        seconds,
        x: plotLeft,
        y: groupTop + index * (BAR_HEIGHT + BAR_GAP),
        // At least a pixel, so that a short time still shows.
        width: Math.max(1, Math.round(seconds * scale)),
        height: BAR_HEIGHT,
      });
    });
  });
  const plotBottom = top + spec.rows.length * (groupHeight + GROUP_GAP) - GROUP_GAP;
  return { width, height: plotBottom + 8 + LINE + MARGIN, plotLeft, plotRight, plotTop: top, plotBottom, axisMax, rowCenters, bars };
}

/** The chart as PNG. */
export async function drawChart(spec: ChartSpec): Promise<Drawing> {
  const layout = layoutChart(spec);
  const canvas = createCanvas(layout.width, layout.height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, layout.width, layout.height);
  paintHeader(ctx, spec);
  paintAxis(ctx, spec, layout);
  paintBars(ctx, spec, layout);
  const png = await new Promise<Buffer>((resolve, reject) =>
    canvas.toBuffer((err, buffer) => (err ? reject(err) : resolve(buffer)), "image/png"),
  );
  return { png, canvas };
}

/**
 * The walkthrough's chart: this run's wall time per task beside the seed's T4 time, device and model in the title,
 * and a third bar per task, its share of the batched run, when the runs have one (TaskRun.batched).
 */
export function walkthroughChartSpec(runs: readonly TaskRun[], context: RunContext, extra: readonly ChartSeries[] = []): ChartSpec {
  const batched = runs.some((r) => r.batched !== undefined);
  return {
    title: `Wall time per task: this run on ${deviceText(context.device)} vs the walkthrough on ${SEED_DEVICE}`,
    subtitle: [
      `this run: ${modelText(context)}, onnxruntime-node`,
      `seed: ${SEED_SETUP}`,
      ...(batched ? ["batched: the same tasks as one model.runBatch call; each bar is the task's share of the batch's time"] : []),
    ],
    rows: runs.map((r) => (r.photo && r.photo !== "sample.jpg" ? `${r.task.name} (${r.photo})` : r.task.name)),
    series: [
      { label: `this run (${context.device.label})`, color: SERIES_COLORS.thisRun, seconds: runs.map((r) => r.times.wall) },
      { label: `seed (Colab ${SEED_DEVICE})`, color: SERIES_COLORS.seed, seconds: runs.map((r) => seedWallSeconds(r.task.token)) },
      ...(batched
        ? [{ label: `batched, share of one runBatch (${context.device.label})`, color: SERIES_COLORS.batched, seconds: runs.map((r) => r.batched) }]
        : []),
      ...extra,
    ],
  };
}

export function drawWalkthroughChart(runs: readonly TaskRun[], context: RunContext, extra: readonly ChartSeries[] = []): Promise<Drawing> {
  return drawChart(walkthroughChartSpec(runs, context, extra));
}

function paintHeader(ctx: CanvasRenderingContext2D, spec: ChartSpec): void {
  ctx.textBaseline = "top";
  ctx.fillStyle = TEXT;
  ctx.font = `bold ${TITLE_SIZE}px ${FONT}`;
  ctx.fillText(spec.title, MARGIN, MARGIN, (spec.width ?? 1000) - 2 * MARGIN);
  ctx.font = `${TEXT_SIZE}px ${FONT}`;
  let y = MARGIN + LINE + 4;
  for (const line of spec.subtitle ?? []) {
    ctx.fillText(line, MARGIN, y, (spec.width ?? 1000) - 2 * MARGIN);
    y += LINE;
  }
  let x = MARGIN;
  for (const series of spec.series) {
    ctx.fillStyle = series.color;
    ctx.fillRect(x, y + 2, 12, 12);
    ctx.fillStyle = TEXT;
    ctx.fillText(series.label, x + 18, y + 1);
    x += 18 + ctx.measureText(series.label).width + 24;
  }
}

function paintAxis(ctx: CanvasRenderingContext2D, spec: ChartSpec, layout: ChartLayout): void {
  const { plotTop, plotBottom } = layout;
  const step = niceStep(layout.axisMax);
  ctx.font = `${TEXT_SIZE - 1}px ${FONT}`;
  ctx.textBaseline = "top";
  ctx.textAlign = "center";
  for (let t = 0; t <= layout.axisMax + 1e-9; t += step) {
    const x = Math.round(layout.plotLeft + (t / layout.axisMax) * (layout.plotRight - layout.plotLeft)) + 0.5;
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, plotTop - 4);
    ctx.lineTo(x, plotBottom + 4);
    ctx.stroke();
    ctx.fillStyle = TEXT;
    ctx.fillText(`${formatAxis(t)} s`, x, plotBottom + 8);
  }
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.font = `${TEXT_SIZE}px ${FONT}`;
  ctx.fillStyle = TEXT;
  spec.rows.forEach((label, row) => ctx.fillText(label, MARGIN, layout.rowCenters[row], LABEL_WIDTH - 8));
}

function paintBars(ctx: CanvasRenderingContext2D, spec: ChartSpec, layout: ChartLayout): void {
  ctx.font = `${TEXT_SIZE - 1}px ${FONT}`;
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  for (const bar of layout.bars) {
    ctx.fillStyle = spec.series[bar.series].color;
    ctx.fillRect(bar.x, bar.y, bar.width, bar.height);
    ctx.fillStyle = TEXT;
    ctx.fillText(formatSeconds(bar.seconds), bar.x + bar.width + 4, bar.y + bar.height / 2);
  }
}

function checkSpec(spec: ChartSpec): void {
  if (spec.series.length === 0) throw new Error("Expected at least one series for the chart but received none.");
  for (const series of spec.series) {
    if (series.seconds.length !== spec.rows.length) {
      throw new Error(
        `Expected one value per row (${spec.rows.length}) in series "${series.label}" but received ${series.seconds.length}.`,
      );
    }
    for (const v of series.seconds) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
        throw new Error(`Expected times of 0 s or more in series "${series.label}" but received ${v}.`);
      }
    }
    if (!/^#[0-9a-f]{6}$/i.test(series.color)) {
      throw new Error(`Expected a #rrggbb colour for series "${series.label}" but received ${JSON.stringify(series.color)}.`);
    }
  }
}

/** 1, 2 or 5 times a power of ten, so that the axis has 4 to 10 steps. */
function niceStep(max: number): number {
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** The smallest multiple of the nice step at or above `max` (1 s when there is nothing to show). */
function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const step = niceStep(max);
  return Math.ceil(max / step - 1e-9) * step;
}

function formatAxis(seconds: number): string {
  return Number(seconds.toPrecision(6)).toString();
}

/** "0.42 s", "12.3 s", "185 s": three significant digits, as the table's IPython format but always in seconds. */
function formatSeconds(seconds: number): string {
  if (seconds >= 100) return `${Math.round(seconds)} s`;
  return `${Number(seconds.toPrecision(3))} s`;
}
