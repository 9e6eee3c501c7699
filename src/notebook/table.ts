/**
 * One table, two forms: fixed-width text for terminals (`npm start`) and the `text/plain` of a notebook output, and
 * an HTML table for Jupyter front ends (JupyterLab, the classic Notebook, Colab), as pandas gives both. The HTML
 * keeps every row on one line (`white-space: nowrap`: a wrapped fixed-width row puts a figure under the next row's
 * name), right-aligns numbers, and sets column groups apart with a rule.
 *
 * Styles are inline attributes: notebook front ends keep them in outputs, while a `<style>` block could be dropped
 * by their sanitizers or leak into the page.
 */

/** A table in both forms, for `showTable` (display.ts): HTML where the front end renders it, the text elsewhere. */
export interface TextAndHtml {
  text: string;
  html: string;
}

export interface TableColumn {
  /** The heading in the text form (one line, so it says its group too, e.g. "wall (seed, T4)"). */
  text: string;
  /** The heading in the HTML form, under its group's heading; default `text`. */
  html?: string;
  /** Adjacent columns with the same group share one heading above theirs (HTML). */
  group?: string;
  /** Figures: right-aligned in HTML. */
  numeric?: boolean;
  /** Set apart from the columns before it by a rule and a tint (HTML): another source's figures, e.g. the seed's. */
  apart?: boolean;
}

export interface TableSpec {
  /** The first line. */
  title: string;
  /** Lines under the title (indented by two spaces in the text form). */
  notes: readonly string[];
  /** Shown highlighted above the HTML table (the text form says it in its notes), e.g. that the model is a stand-in. */
  mark?: string;
  columns: readonly TableColumn[];
  /** One string per column. */
  rows: readonly (readonly string[])[];
  /** How many of the last rows are totals (a rule above them and bold, in HTML). */
  totals?: number;
}

function checkRows(spec: TableSpec): void {
  for (const [i, row] of spec.rows.entries()) {
    if (row.length !== spec.columns.length) {
      throw new Error(`Expected ${spec.columns.length} cells in row ${i} of "${spec.title}" (one per column) but received ${row.length}.`);
    }
  }
}

/** Title, indented notes, heading, dashes, rows; columns padded to their widest cell and two spaces apart. */
export function renderTextTable(spec: TableSpec): string {
  checkRows(spec);
  const header = spec.columns.map((c) => c.text);
  const widths = header.map((h, c) => Math.max(h.length, ...spec.rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  return [spec.title, ...spec.notes.map((n) => `  ${n}`), line(header), line(widths.map((w) => "-".repeat(w))), ...spec.rows.map(line)].join("\n");
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const CELL = "padding:0.25em 0.6em;white-space:nowrap";
const RULE = "border-left:2px solid rgba(127,127,127,0.6)";
const TINT = "background:rgba(127,127,127,0.08)";
const APART = `${RULE};${TINT}`;
const MARK = "display:inline-block;margin:0.2em 0;padding:0.1em 0.4em;background:#fde68a;color:#000;border-radius:3px";

/** An apart column rules off its group; the rest of that group shares its tint. */
function cellStyle(columns: readonly TableColumn[], c: number): string {
  const column = columns[c];
  let start = c;
  while (start > 0 && !columns[start].apart && column.group !== undefined && columns[start - 1].group === column.group) start--;
  const tinted = columns[start].apart === true && (start === c || column.group !== undefined);
  return [CELL, `text-align:${column.numeric ? "right" : "left"}`, ...(column.apart ? [RULE] : []), ...(tinted ? [TINT] : [])].join(";");
}

/** The HTML form: a caption with the title and notes, group headings, one row per line. */
export function renderHtmlTable(spec: TableSpec): string {
  checkRows(spec);
  const groups: { group: string | undefined; span: number; apart: boolean }[] = [];
  for (const column of spec.columns) {
    const last = groups[groups.length - 1];
    if (last && last.group === column.group && column.apart !== true) last.span++;
    else groups.push({ group: column.group, span: 1, apart: column.apart === true });
  }
  const groupRow = groups.some((g) => g.group !== undefined)
    ? `<tr>${groups
        .map((g) => {
          const style = [CELL, "text-align:center", ...(g.group ? ["border-bottom:1px solid rgba(127,127,127,0.6)"] : []), ...(g.apart ? [APART] : [])].join(";");
          return `<th colspan="${g.span}" style="${style}">${escapeHtml(g.group ?? "")}</th>`;
        })
        .join("")}</tr>\n`
    : "";
  const headRow = `<tr>${spec.columns.map((c, i) => `<th style="${cellStyle(spec.columns, i)}">${escapeHtml(c.html ?? c.text)}</th>`).join("")}</tr>\n`;
  const row = (cells: readonly string[], total: boolean, first: boolean) => {
    const style = total ? ` style="font-weight:bold${first ? ";border-top:1px solid rgba(127,127,127,0.6)" : ""}"` : "";
    return `<tr${style}>${cells.map((cell, c) => `<td style="${cellStyle(spec.columns, c)}">${escapeHtml(cell)}</td>`).join("")}</tr>\n`;
  };
  const totals = Math.min(spec.totals ?? 0, spec.rows.length);
  const bodyRows = spec.rows.slice(0, spec.rows.length - totals);
  const totalRows = spec.rows.slice(spec.rows.length - totals);
  const caption =
    `<caption style="caption-side:top;text-align:left;padding-bottom:0.4em">` +
    `<b>${escapeHtml(spec.title)}</b>` +
    (spec.mark ? `<br><span style="${MARK}">${escapeHtml(spec.mark)}</span>` : "") +
    spec.notes.map((n) => `<br>${escapeHtml(n)}`).join("") +
    `</caption>\n`;
  return (
    `<table style="border-collapse:collapse;font-variant-numeric:tabular-nums">\n` +
    caption +
    `<thead>\n${groupRow}${headRow}</thead>\n` +
    `<tbody>\n${bodyRows.map((r) => row(r, false, false)).join("")}</tbody>\n` +
    (totalRows.length > 0 ? `<tfoot>\n${totalRows.map((r, i) => row(r, true, i === 0)).join("")}</tfoot>\n` : "") +
    `</table>`
  );
}

/** Both forms of one table. */
export function renderTable(spec: TableSpec): TextAndHtml {
  return { text: renderTextTable(spec), html: renderHtmlTable(spec) };
}
