/**
 * `npm ci` must never fetch onnxruntime-node's CUDA provider, under npm 10 (which ignores package.json's
 * allowScripts) as under npm 11. The project's .npmrc sets onnxruntime-node-install=skip; npm hands it to install
 * scripts as npm_config_onnxruntime_node_install. Each npm here installs a tiny package whose postinstall asks
 * onnxruntime-node's own flag parser (script/install-utils.js, the function its installer calls first) what it sees,
 * so nothing is downloaded even if the skip stopped working. `npm run gpu:install` must still force the install.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const INSTALL_UTILS = require.resolve("onnxruntime-node/script/install-utils.js");

/** The environment of a user's shell: none of CI's ONNXRUNTIME_NODE_INSTALL, nor the npm_* of a surrounding `npm test`. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|ONNXRUNTIME_NODE_INSTALL)/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** A package whose postinstall records what onnxruntime-node's installer would decide: false = skip, true = force, null = default (download). */
function writeProbeProject(dir: string, withNpmrc: boolean): string {
  const out = path.join(dir, "flag.json");
  const dep = path.join(dir, "dep", "package");
  fs.mkdirSync(dep, { recursive: true });
  fs.writeFileSync(path.join(dep, "package.json"), JSON.stringify({ name: "ort-flag-probe", version: "1.0.0", scripts: { postinstall: "node probe.js" } }));
  fs.writeFileSync(
    path.join(dep, "probe.js"),
    `const flag = require(${JSON.stringify(INSTALL_UTILS)}).parseInstallFlag();\n` +
      `require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify({ flag: flag === undefined ? null : flag }));\n`,
  );
  const tar = spawnSync("tar", ["czf", "ort-flag-probe.tgz", "package"], { cwd: path.dirname(dep) });
  assert.equal(tar.status, 0, String(tar.stderr));
  const app = path.join(dir, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "app", version: "1.0.0", private: true, dependencies: { "ort-flag-probe": `file:${path.join(dir, "dep", "ort-flag-probe.tgz")}` } }),
  );
  if (withNpmrc) fs.copyFileSync(path.join(ROOT, ".npmrc"), path.join(app, ".npmrc"));
  return out;
}

/** `npm@<major> install` (offline) in the probe project; the installer's decision, or undefined when that npm is not in the npx cache. */
function installWith(major: number, dir: string, withNpmrc: boolean): { flag: unknown } | undefined {
  const out = writeProbeProject(dir, withNpmrc);
  const run = spawnSync("npx", ["-y", "--offline", `npm@${major}`, "install", "--offline", "--no-audit", "--no-fund", "--foreground-scripts"], {
    cwd: path.join(dir, "app"),
    env: userEnv(),
    encoding: "utf8",
    timeout: 120_000,
  });
  if (run.status !== 0 && /ENOTCACHED|E404|ENOTFOUND/.test(run.stderr + run.stdout) && !fs.existsSync(out)) return undefined;
  assert.equal(run.status, 0, `npm@${major} install failed:\n${run.stderr}`);
  return JSON.parse(fs.readFileSync(out, "utf8"));
}

describe("install configuration (.npmrc, npm run gpu:install)", function () {
  this.timeout(240_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-config-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const major of [10, 11]) {
    it(`npm ${major} hands the project's .npmrc to install scripts, so onnxruntime-node's installer skips; without it, it would download`, function () {
      const withRc = installWith(major, path.join(dir, "with"), true);
      if (withRc === undefined) {
        console.log(`      (skipped: npm@${major} is not in the npx cache and the registry can't be reached)`);
        this.skip();
      }
      assert.deepEqual(withRc, { flag: false }, "false is the installer's 'skip'");
      assert.deepEqual(installWith(major, path.join(dir, "without"), false), { flag: null }, "null is its default, which downloads the provider on Linux x64");
    });
  }

  it("npm run gpu:install forces the installer even under the project's skip", function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const script: string = pkg.scripts["gpu:install"];
    assert.ok(script, "package.json has a gpu:install script");
    // npm sets npm_config_onnxruntime_node_install=skip (from .npmrc) and npm_config_local_prefix for `npm run`; the
    // script's own ONNXRUNTIME_NODE_INSTALL must win, with a value the parser takes as "force".
    const m = /^ONNXRUNTIME_NODE_INSTALL=(\S+) node node_modules\/onnxruntime-node\/script\/install\.js$/.exec(script);
    assert.ok(m, script);
    const parsed = spawnSync(process.execPath, ["-e", `console.log(JSON.stringify(require(${JSON.stringify(INSTALL_UTILS)}).parseInstallFlag()))`], {
      env: { ...userEnv(), ONNXRUNTIME_NODE_INSTALL: m[1], npm_config_onnxruntime_node_install: "skip" },
      encoding: "utf8",
    });
    assert.equal(parsed.stdout.trim(), "true", parsed.stderr);
  });
});
