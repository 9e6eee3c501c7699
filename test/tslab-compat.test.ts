/**
 * Notebooks import src/ through tslab, which compiles with its own TypeScript 5.0.4 in CommonJS, non-strict mode
 * and ignores tsconfig.json. This checks that everything the notebooks import (src/index.ts, the library, and
 * src/walkthrough/index.ts, the walkthrough's pieces) still compiles there, so a newer syntax or a strict-only
 * pattern can't break the notebooks unnoticed.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const TSLAB_TSC = path.join(ROOT, "node_modules", "@tslab", "typescript-for-tslab", "bin", "tsc");

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
});
