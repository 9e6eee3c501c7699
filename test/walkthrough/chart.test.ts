/**
 * The timing chart, checked like the other drawings: the PNG's pixels are the series' colours where the layout puts
 * the bars and not past their ends, bar lengths follow the times, and the walkthrough's chart names the device and
 * model and holds this run's and the seed's times (and a third series when given).
 */
import { strict as assert } from "node:assert";
import sharp from "sharp";
import { getTask } from "../../src/text/tasks";
import { SERIES_COLORS, drawChart, drawWalkthroughChart, layoutChart, walkthroughChartSpec, type ChartSpec } from "../../src/walkthrough/chart";
import { seedWallSeconds } from "../../src/walkthrough/seed-timings";
import { WALKTHROUGH_SETTINGS } from "../../src/walkthrough/steps";
import type { RunContext, TaskRun } from "../../src/walkthrough/timing-table";

function hexToRgb(color: string): number[] {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, at: (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)] };
}

const SPEC: ChartSpec = {
  title: "Test chart",
  subtitle: ["a subtitle"],
  rows: ["CAPTION", "OD", "OCR", "NONE"],
  series: [
    { label: "this run", color: SERIES_COLORS.thisRun, seconds: [1, 4, 0.5, undefined] },
    { label: "seed", color: SERIES_COLORS.seed, seconds: [0.25, 2, 8, undefined] },
    { label: "batched", color: SERIES_COLORS.batched, seconds: [0.5, undefined, 3, undefined] },
  ],
};

describe("walkthrough/chart: the timing chart", function () {
  it("paints each bar in its series' colour where the layout puts it, and nothing of that colour past its end", async function () {
    const layout = layoutChart(SPEC);
    const { png } = await drawChart(SPEC);
    const image = await pixels(png);
    assert.deepEqual([image.width, image.height], [layout.width, layout.height]);
    assert.equal(layout.bars.length, 8, "one bar per defined value (3 + 3 + 2), three series");
    for (const bar of layout.bars) {
      const color = hexToRgb(SPEC.series[bar.series].color);
      const midY = bar.y + Math.floor(bar.height / 2);
      for (const t of [0.02, 0.5, 0.98]) {
        const x = Math.min(bar.x + bar.width - 1, Math.floor(bar.x + t * bar.width));
        assert.deepEqual(image.at(x, midY), color, `${SPEC.rows[bar.row]} / ${SPEC.series[bar.series].label} at ${t}`);
      }
      assert.deepEqual(image.at(bar.x + 1, bar.y + 1), color, "top-left corner");
      assert.deepEqual(image.at(bar.x + bar.width - 1, bar.y + bar.height - 1), color, "bottom-right corner");
      assert.notDeepEqual(image.at(bar.x + bar.width + 1, midY), color, "just past the end");
      assert.notDeepEqual(image.at(bar.x + 2, bar.y - 1), color, "just above");
    }
    // The row with no values has no bar in any colour.
    const emptyY = Math.round(layout.rowCenters[3]);
    for (let x = layout.plotLeft + 2; x < layout.plotRight; x += 5) {
      for (const s of SPEC.series) assert.notDeepEqual(image.at(x, emptyY), hexToRgb(s.color), `NONE row at x=${x}`);
    }
  });

  it("draws bar lengths in proportion to the times, on an axis that holds the longest", function () {
    const layout = layoutChart(SPEC);
    const scale = (layout.plotRight - layout.plotLeft) / layout.axisMax;
    assert.ok(layout.axisMax >= 8 && layout.axisMax <= 10, `axis to ${layout.axisMax} s`);
    for (const bar of layout.bars) assert.ok(Math.abs(bar.width - bar.seconds * scale) <= 0.5, `${bar.seconds} s is ${bar.width} px`);
    const longest = Math.max(...layout.bars.map((b) => b.x + b.width));
    assert.ok(longest <= layout.plotRight);
    // Rows top to bottom, series in order inside a row.
    const rowTops = [0, 1, 2].map((row) => Math.min(...layout.bars.filter((b) => b.row === row).map((b) => b.y)));
    assert.ok(rowTops[0] < rowTops[1] && rowTops[1] < rowTops[2]);
    const ocr = layout.bars.filter((b) => b.row === 2);
    assert.deepEqual(ocr.map((b) => b.series), [0, 1, 2]);
    assert.ok(ocr[0].y < ocr[1].y && ocr[1].y < ocr[2].y);
  });

  it("writes the title and the row labels in dark text", async function () {
    const layout = layoutChart(SPEC);
    const image = await pixels((await drawChart(SPEC)).png);
    const darkIn = (x0: number, y0: number, x1: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (image.at(x, y).every((c) => c < 100)) n++;
      return n;
    };
    assert.ok(darkIn(16, 16, 200, 36) > 20, "title");
    assert.ok(darkIn(16, Math.round(layout.rowCenters[1]) - 6, layout.plotLeft - 8, Math.round(layout.rowCenters[1]) + 6) > 10, "row label");
  });

  it("builds the walkthrough's chart from this run and the seed's T4 times, naming device and model, and the batched shares as a third series", async function () {
    const runs: TaskRun[] = [
      { task: getTask("<CAPTION>"), times: { user: 1, sys: 0, total: 1, wall: 0.9 }, photo: "sample.jpg" },
      { task: getTask("<OCR_WITH_REGION>"), times: { user: 9, sys: 0, total: 9, wall: 6.2 }, photo: "sample2.jpg" },
    ];
    const context: RunContext = {
      model: "onnx-community/Florence-2-base-ft", dtype: "fp32", settings: WALKTHROUGH_SETTINGS,
      device: { provider: "cpu", hardware: "AMD EPYC, 2 threads", label: "CPU" }, standin: false,
    };
    const spec = walkthroughChartSpec(runs, context);
    assert.equal(spec.title, "Wall time per task: this run on CPU (AMD EPYC, 2 threads) vs the walkthrough on T4");
    const onWebGpu = walkthroughChartSpec(runs, { ...context, device: { provider: "webgpu", hardware: "Apple M2 GPU", label: "Apple M2 GPU" } });
    assert.equal(onWebGpu.title, "Wall time per task: this run on WebGPU on Apple M2 GPU vs the walkthrough on T4");
    assert.equal(onWebGpu.series[0].label, "this run (Apple M2 GPU)");
    assert.ok(spec.subtitle?.[0].includes("onnx-community/Florence-2-base-ft fp32"));
    assert.deepEqual(spec.rows, ["CAPTION", "OCR_WITH_REGION (sample2.jpg)"]);
    assert.deepEqual(spec.series.map((s) => s.seconds), [[0.9, 6.2], [seedWallSeconds("<CAPTION>"), seedWallSeconds("<OCR_WITH_REGION>")]]);
    assert.equal(spec.subtitle?.length, 2, "no batched line without a batched run");
    // With the batched run's shares: a third series, in its colour, named in the legend and the subtitle.
    const withShares = runs.map((r, i) => ({ ...r, batched: [0.3, 2][i] }));
    const withBatch = walkthroughChartSpec(withShares, context);
    assert.equal(withBatch.series.length, 3);
    assert.deepEqual(withBatch.series[2].seconds, [0.3, 2]);
    assert.equal(withBatch.series[2].color, SERIES_COLORS.batched);
    assert.match(withBatch.series[2].label, /^batched, share of one runBatch \(CPU\)$/);
    assert.match(withBatch.subtitle?.[2] ?? "", /one model\.runBatch call; each bar is the task's share of the batch's time/);
    const { png } = await drawWalkthroughChart(withShares, context);
    const layout = layoutChart(withBatch);
    const image = await pixels(png);
    assert.deepEqual([image.width, image.height], [layout.width, layout.height]);
    for (const row of [0, 1]) {
      const bar = layout.bars.find((b) => b.row === row && b.series === 2);
      assert.ok(bar);
      assert.ok(Math.abs(bar.width - (withShares[row].batched as number) * ((layout.plotRight - layout.plotLeft) / layout.axisMax)) <= 0.5);
      assert.deepEqual(image.at(bar.x + Math.floor(bar.width / 2), bar.y + 7), hexToRgb(SERIES_COLORS.batched));
    }
  });

  it("rejects series that do not fit the rows, negative times and bad colours", async function () {
    const bad = (series: ChartSpec["series"]) => drawChart({ title: "t", rows: ["a", "b"], series });
    await assert.rejects(bad([]), /at least one series/);
    await assert.rejects(bad([{ label: "x", color: "#000000", seconds: [1] }]), /one value per row \(2\) in series "x" but received 1/);
    await assert.rejects(bad([{ label: "x", color: "#000000", seconds: [1, -2] }]), /times of 0 s or more in series "x" but received -2/);
    await assert.rejects(bad([{ label: "x", color: "blue", seconds: [1, 2] }]), /#rrggbb colour for series "x" but received "blue"/);
  });
});
