/**
 * Tables in two forms: the text form (padded columns, as `npm start` prints) and the HTML form that notebook front
 * ends render: rows that never wrap, numbers right-aligned, column groups under one heading, apart columns ruled
 * off, totals in a footer, and every cell escaped.
 */
import { strict as assert } from "node:assert";
import { renderHtmlTable, renderTable, renderTextTable, type TableSpec } from "../../src/notebook/table";

const SPEC: TableSpec = {
  title: "Times",
  notes: ["this run: <CPU>", "seed: T4"],
  mark: "stand-in & random",
  columns: [
    { text: "task" },
    { text: "wall (CPU)", html: "wall", group: "this run", numeric: true },
    { text: "CPU total (CPU)", html: "CPU total", group: "this run", numeric: true },
    { text: "wall (seed)", html: "wall", group: "seed", numeric: true, apart: true },
  ],
  rows: [
    ["CAPTION", "1.25 s", "2.5 s", "667 ms"],
    ["OD", "12 s", "30 s", "1.2 s"],
    ["all 2 tasks", "13.2 s", "32.5 s", "1.87 s"],
  ],
  totals: 1,
};

/** The cells of each <tr> of an HTML table, as [tag, style, text]. */
function htmlRows(html: string): { tag: string; style: string; text: string; colspan?: string }[][] {
  return [...html.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<(td|th)(?: colspan="(\d+)")? style="([^"]*)">([\s\S]*?)<\/\1>/g)].map((m) => ({ tag: m[1], colspan: m[2], style: m[3], text: m[4] })),
  );
}

describe("notebook/table", function () {
  it("text: the title, indented notes, heading, dashes and padded rows", function () {
    assert.equal(
      renderTextTable(SPEC),
      [
        "Times",
        "  this run: <CPU>",
        "  seed: T4",
        "task         wall (CPU)  CPU total (CPU)  wall (seed)",
        "-----------  ----------  ---------------  -----------",
        "CAPTION      1.25 s      2.5 s            667 ms",
        "OD           12 s        30 s             1.2 s",
        "all 2 tasks  13.2 s      32.5 s           1.87 s",
      ].join("\n"),
    );
  });

  it("HTML: group headings with their spans, the columns' own headings, one row per line, numbers right-aligned", function () {
    const rows = htmlRows(renderHtmlTable(SPEC));
    assert.deepEqual(rows[0].map((c) => [c.text, c.colspan]), [["", "1"], ["this run", "2"], ["seed", "1"]]);
    assert.deepEqual(rows[1].map((c) => c.text), ["task", "wall", "CPU total", "wall"]);
    assert.equal(rows.length, 2 + SPEC.rows.length);
    for (const row of rows.slice(1)) {
      for (const [c, cell] of row.entries()) {
        assert.match(cell.style, /white-space:nowrap/, `${cell.text}: never wrapped`);
        assert.match(cell.style, SPEC.columns[c].numeric ? /text-align:right/ : /text-align:left/, cell.text);
        assert.equal(/border-left/.test(cell.style), SPEC.columns[c].apart === true, `${cell.text}: only the seed's column is set apart`);
      }
    }
    assert.deepEqual(rows.slice(2).map((r) => r.map((c) => c.text)), SPEC.rows.map((r) => [...r]));
  });

  it("HTML: totals in a bold footer, the mark and notes in the caption, everything escaped", function () {
    const html = renderHtmlTable(SPEC);
    assert.match(html, /<tfoot>\n<tr style="font-weight:bold;border-top:[^"]+"><td[^>]*>all 2 tasks<\/td>/);
    assert.equal((html.match(/<tr/g) ?? []).length, 5);
    assert.match(html, /<caption[^>]*><b>Times<\/b><br><span style="[^"]*background:[^"]*">stand-in &amp; random<\/span><br>this run: &lt;CPU&gt;<br>seed: T4<\/caption>/);
    assert.doesNotMatch(html, /<CPU>/);
    assert.deepEqual(renderTable(SPEC), { text: renderTextTable(SPEC), html });
  });

  it("rejects a row with the wrong number of cells, naming the row and the table", function () {
    const bad = { ...SPEC, rows: [["CAPTION", "1 s"]] };
    assert.throws(() => renderHtmlTable(bad), /Expected 4 cells in row 0 of "Times" \(one per column\) but received 2\./);
    assert.throws(() => renderTextTable(bad), /Expected 4 cells in row 0/);
  });
});
