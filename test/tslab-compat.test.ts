/**
 * Notebooks import src/ through tslab, which compiles with its own TypeScript 5.0.4 in CommonJS, non-strict mode
 * and ignores tsconfig.json. This checks that everything the notebooks import (src/index.ts, the library, and
 * src/walkthrough/index.ts, the walkthrough's pieces) still compiles there, so a newer syntax or a strict-only
 * pattern can't break the notebooks unnoticed; and that each of their relative imports resolves at run time the
 * way tslab resolves it: to a file, never to a folder's index (src/ imports a folder as "./hub/index").
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { relativeImportClosure, resolveLikeTslab } from "./support/imports";

const ROOT = path.resolve(__dirname, "..");
const TSLAB_TSC = path.join(ROOT, "node_modules", "@tslab", "typescript-for-tslab", "bin", "tsc");
/** What the notebooks import (notebookImports adds whatever else a notebook imports relatively). */
const ENTRIES = [path.join(ROOT, "src", "index.ts"), path.join(ROOT, "src", "walkthrough", "index.ts")];

/** The relative imports in the notebooks' code cells, as (notebook, specifier). */
function notebookImports(): { notebook: string; specifier: string }[] {
  const dir = path.join(ROOT, "notebooks");
  const found: { notebook: string; specifier: string }[] = [];
  for (const name of fs.readdirSync(dir).filter((f) => f.endsWith(".ipynb"))) {
    const cells = (JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as { cells: { cell_type: string; source: string | string[] }[] }).cells;
    for (const cell of cells.filter((c) => c.cell_type === "code")) {
      const code = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
      for (const m of code.matchAll(/\bfrom\s+"(\.\.?\/[^"]+)"|\bimport\(\s*"(\.\.?\/[^"]+)"\s*\)/g)) {
        found.push({ notebook: path.join(dir, name), specifier: m[1] ?? m[2] });
      }
    }
  }
  return found;
}

describe("src compiles with tslab's TypeScript (5.0, CommonJS, non-strict)", function () {
  this.timeout(120_000);

  it("type-checks src/index.ts, src/walkthrough/index.ts and everything they import", () => {
    assert.ok(fs.existsSync(TSLAB_TSC), `tslab's compiler is missing at ${TSLAB_TSC}: run npm ci`);
    const version = execFileSync(process.execPath, [TSLAB_TSC, "--version"], { encoding: "utf8" });
    assert.match(version, /Version 5\.0\./);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "f2-tslab-compat-"));
    const tsconfig = path.join(dir, "tsconfig.json");
    fs.writeFileSync(tsconfig, JSON.stringify({
      compilerOptions: {
        target: "ES2022", lib: ["ES2022"], module: "commonjs", moduleResolution: "node", strict: false,
        esModuleInterop: true, skipLibCheck: true, noEmit: true, types: ["node"],
        typeRoots: [path.join(ROOT, "node_modules", "@types")],
      },
      files: [path.join(ROOT, "src", "index.ts"), path.join(ROOT, "src", "walkthrough", "index.ts")],
    }));
    try {
      execFileSync(process.execPath, [TSLAB_TSC, "-p", tsconfig], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      const out = (err as { stdout?: string }).stdout ?? String(err);
      assert.fail(`tslab's TypeScript 5.0 rejects src/:\n${out}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("resolves every relative import the notebooks reach (src/index.ts, src/walkthrough/index.ts) to a file, as tslab does", () => {
    const fromNotebooks = notebookImports();
    assert.ok(fromNotebooks.length > 0, "no relative imports found in notebooks/*.ipynb");
    const notebookEntries: string[] = [];
    const broken: string[] = [];
    for (const { notebook, specifier } of fromNotebooks) {
      const resolved = resolveLikeTslab(notebook, specifier);
      if (resolved === undefined) broken.push(`${path.relative(ROOT, notebook)} imports "${specifier}"`);
      else notebookEntries.push(fs.realpathSync(resolved)); // notebooks/src is a link to src/
    }
    const { files, unresolved } = relativeImportClosure([...ENTRIES, ...notebookEntries]);
    const reached = files.map((f) => path.relative(ROOT, f));
    for (const expected of ["src/florence2.ts", "src/hub/resolve.ts", "src/standin/marker.ts", "src/walkthrough/steps.ts"]) {
      assert.ok(reached.includes(expected), `the walk should reach ${expected}; it reached ${reached.length} files`);
    }
    broken.push(...unresolved.map((u) => `${path.relative(ROOT, u.file)} imports "${u.specifier}"`));
    assert.deepEqual(broken, [], 'tslab cannot resolve these imports: import a file ("./x" for x.ts, "./hub/index" for a folder)');
  });

  it("finds the imports tslab would fail on: a folder, a .ts extension, a missing file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "f2-tslab-imports-"));
    try {
      fs.mkdirSync(path.join(dir, "lib"));
      fs.writeFileSync(path.join(dir, "lib", "index.ts"), "export const one = 1;\n");
      fs.writeFileSync(path.join(dir, "two.ts"), "export const two = 2;\n");
      fs.writeFileSync(
        path.join(dir, "main.ts"),
        'import { one } from "./lib";\nimport { one as again } from "./lib/index";\nexport { two } from "./two";\n' +
          'import type { two as t } from "./two.ts";\nexport const later = () => import("./gone");\n',
      );
      const { files, unresolved } = relativeImportClosure([path.join(dir, "main.ts")]);
      assert.deepEqual(files.map((f) => path.relative(dir, f)), ["lib/index.ts", "main.ts", "two.ts"]);
      assert.deepEqual(unresolved.map((u) => u.specifier).sort(), ["./gone", "./lib", "./two.ts"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
