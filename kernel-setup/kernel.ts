/**
 * Registers (or removes) this project's TypeScript kernel with the user's Jupyter: JupyterLab, the classic
 * Notebook and anything else that reads Jupyter kernel specs (VS Code included) share the same registry.
 *
 *   npx tsx kernel-setup/kernel.ts install   [--python PATH] [--user | --sys-prefix | --prefix DIR]
 *   npx tsx kernel-setup/kernel.ts uninstall [--python PATH] [--user | --sys-prefix | --prefix DIR]
 *   npx tsx kernel-setup/kernel.ts status    [--python PATH]
 *
 * Why not `tslab install`: it registers two kernels under the generic names "tslab" and "jslab" (replacing a
 * tslab the user installed globally), writes a bare command that needs `node` on the PATH Jupyter was started
 * with (often not the case for desktop launchers or nvm users), and has no uninstall. Here the kernel spec
 * runs the project's own tslab with the Node.js that ran this command, under a name of its own
 * (`florence2-ts`), so install is repeatable and uninstall removes exactly what install wrote.
 * The copy into Jupyter's folders is done by Jupyter's own `jupyter kernelspec install`, in the Python that
 * has Jupyter.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

/** The kernel spec's name: notebooks in notebooks/ name it in their metadata. */
export const KERNEL_NAME = "florence2-ts";
export const KERNEL_DISPLAY_NAME = "TypeScript (florence2-ts)";
/** Key under the kernel spec's `metadata` that marks a spec as written by this script. */
const SPEC_MARKER = "florence2-ts";

const PROJECT_ROOT = path.resolve(__dirname, "..");
const TSLAB_SCRIPT = path.join(PROJECT_ROOT, "node_modules", "tslab", "bin", "tslab");

export const JUPYTER_INSTALL_HELP = [
  "Jupyter is needed to open the notebooks. Install one of:",
  "  JupyterLab:        python3 -m pip install jupyterlab      (or: pipx install jupyterlab, conda install -c conda-forge jupyterlab)",
  "  classic Notebook:  python3 -m pip install notebook        (Debian/Ubuntu: sudo apt install jupyter-notebook)",
  "then run this command again. If Jupyter lives in a particular Python (a venv or conda env), name it:",
  "  npm run kernel:install -- --python /path/to/that/python",
].join("\n");

/** Where a kernel spec goes, as `jupyter kernelspec install` spells it. */
export type SpecLocation = { kind: "user" } | { kind: "sys-prefix" } | { kind: "prefix"; prefix: string };

/** What the Python that has Jupyter reports about itself (PROBE_PY). */
export interface JupyterInfo {
  python: string;
  sysPrefix: string;
  /** `jupyter_core.paths.jupyter_data_dir()`: the per-user registry (honours JUPYTER_DATA_DIR). */
  userDataDir: string;
  /** Folders Jupyter searches for kernels, first wins. */
  kernelDirs: string[];
  /** Kernel specs Jupyter finds now: name -> folder. */
  kernels: Record<string, string>;
  frontEnds: { jupyterlab: boolean; notebook: boolean; nbclassic: boolean };
}

// Run by the candidate Python; prints one JSON line, or exits 3 when jupyter_client is not importable.
const PROBE_PY = `
import importlib.util, json, sys
try:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_data_dir
except ImportError:
    sys.exit(3)
ksm = KernelSpecManager()
print(json.dumps({
    "python": sys.executable,
    "sysPrefix": sys.prefix,
    "userDataDir": jupyter_data_dir(),
    "kernelDirs": list(ksm.kernel_dirs),
    "kernels": ksm.find_kernel_specs(),
    "frontEnds": {m: importlib.util.find_spec(m) is not None for m in ("jupyterlab", "notebook", "nbclassic")},
}))
`;

/** Asks one Python whether it has Jupyter; undefined when it can't run or has no jupyter_client. */
export function probeJupyter(python: string, env: NodeJS.ProcessEnv = process.env): JupyterInfo | undefined {
  const run = spawnSync(python, ["-c", PROBE_PY], { encoding: "utf8", env });
  if (run.error || run.status !== 0) return undefined;
  return JSON.parse(run.stdout) as JupyterInfo;
}

/**
 * The Python to use: the one given, else the one the `jupyter` command on PATH runs with (its shebang), else
 * `python3`, `python`. The first on PATH is often a different Python than Jupyter's (pyenv, Homebrew), which is
 * why the `jupyter` script is asked first.
 */
export function findJupyterPython(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): JupyterInfo {
  if (explicit !== undefined) {
    const info = probeJupyter(explicit, env);
    if (info) return info;
    throw new Error(`The Python "${explicit}" given with --python can't import jupyter_client.\n${JUPYTER_INSTALL_HELP}`);
  }
  const tried: string[] = [];
  for (const candidate of pythonCandidates(env)) {
    tried.push(candidate);
    const info = probeJupyter(candidate, env);
    if (info) return info;
  }
  throw new Error(`Jupyter was not found (tried the Pythons: ${tried.join(", ")}).\n${JUPYTER_INSTALL_HELP}`);
}

/**
 * The Pythons to probe, in order. The `jupyter` script's interpreter comes first only when it is named like a
 * Python: the probe is Python code given with `-c`, and a shell (a pyenv shim starts `#!/usr/bin/env bash`)
 * would run it as shell commands.
 */
export function pythonCandidates(env: NodeJS.ProcessEnv): string[] {
  const candidates: string[] = [];
  const jupyter = whichOnPath("jupyter", env);
  const shebangPython = jupyter ? shebangInterpreter(jupyter) : undefined;
  if (shebangPython && PYTHON_NAME.test(path.basename(shebangPython))) candidates.push(shebangPython);
  candidates.push("python3", "python");
  return [...new Set(candidates)];
}

/** `python`, `python3`, `python3.11`, `python3.13t`, `pypy3`: interpreters that run `-c` code as Python. */
const PYTHON_NAME = /^(python|pypy)(\d+(\.\d+)*t?)?$/;

function whichOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      continue;
    }
  }
  return undefined;
}

/** `#!/usr/bin/python3` -> `/usr/bin/python3`; `#!/usr/bin/env python3` (or `env -S python3 -u`) -> `python3`. */
function shebangInterpreter(script: string): string | undefined {
  const firstLine = fs.readFileSync(script, "utf8").split("\n", 1)[0];
  const words = /^#!\s*(.*)$/.exec(firstLine)?.[1].trim().split(/\s+/) ?? [];
  if (path.basename(words[0] ?? "") !== "env") return words[0] || undefined;
  return words.slice(1).find((w) => !w.startsWith("-"));
}

/** The folder that holds kernel spec folders for a location. */
export function kernelsDir(info: JupyterInfo, location: SpecLocation): string {
  switch (location.kind) {
    case "user":
      return path.join(info.userDataDir, "kernels");
    case "sys-prefix":
      return path.join(info.sysPrefix, "share", "jupyter", "kernels");
    case "prefix":
      return path.join(path.resolve(location.prefix), "share", "jupyter", "kernels");
  }
}

/** kernel.json for this project: absolute Node.js and tslab, so Jupyter's PATH does not matter. */
export function buildKernelSpec(): Record<string, unknown> {
  return {
    // tslab takes --config-path and the file as two arguments (tslab's install.py: "should be split due to #36").
    argv: [process.execPath, TSLAB_SCRIPT, "kernel", "--config-path", "{connection_file}"],
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
    metadata: { [SPEC_MARKER]: { project: PROJECT_ROOT, node: process.version } },
  };
}

/** The project a spec folder was written for, or undefined when the folder is not one of ours. */
export function specProject(specDir: string): string | undefined {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(specDir, "kernel.json"), "utf8"));
    return spec?.metadata?.[SPEC_MARKER]?.project;
  } catch {
    return undefined;
  }
}

// Copies a staged spec folder with Jupyter's own installer, then prints where Jupyter now finds each kernel.
const INSTALL_PY = `
import json, sys
from jupyter_client.kernelspec import KernelSpecManager
staging, name, kind, prefix = sys.argv[1:5]
ksm = KernelSpecManager()
ksm.install_kernel_spec(staging, name, user=(kind == "user"), prefix=(prefix or None), replace=True)
print(json.dumps(KernelSpecManager().find_kernel_specs()))
`;

function installPrefix(info: JupyterInfo, location: SpecLocation): string {
  switch (location.kind) {
    case "user":
      return "";
    case "sys-prefix":
      return info.sysPrefix;
    case "prefix":
      return path.resolve(location.prefix);
  }
}

export interface Installed {
  /** The kernel spec folder written. */
  target: string;
  /** Where Jupyter finds each kernel spec after the install: name -> folder. */
  kernels: Record<string, string>;
}

export function install(info: JupyterInfo, location: SpecLocation, log: (line: string) => void): Installed {
  if (!fs.existsSync(TSLAB_SCRIPT)) {
    throw new Error(`tslab is not installed in ${PROJECT_ROOT}/node_modules. Run \`npm ci\` in ${PROJECT_ROOT} first.`);
  }
  const target = path.join(kernelsDir(info, location), KERNEL_NAME);
  const previous = fs.existsSync(target) ? specProject(target) : undefined;
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "florence2-ts-kernel-"));
  let kernels: Record<string, string>;
  try {
    fs.writeFileSync(path.join(staging, "kernel.json"), JSON.stringify(buildKernelSpec(), null, 2) + "\n");
    const args = ["-c", INSTALL_PY, staging, KERNEL_NAME, location.kind, installPrefix(info, location)];
    const run = spawnSync(info.python, args, { encoding: "utf8" });
    if (run.status !== 0) {
      throw new Error(
        `Jupyter could not install the kernel spec into ${target}:\n${run.stderr || run.stdout}` +
          (location.kind === "sys-prefix" ? "\nWithout write access to sys.prefix, use --user (the default)." : ""),
      );
    }
    kernels = JSON.parse(run.stdout) as Record<string, string>;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  if (previous !== undefined && previous !== PROJECT_ROOT) {
    log(`Replaced the ${KERNEL_NAME} kernel that ran the project in ${previous}.`);
  }
  log(`Registered the "${KERNEL_DISPLAY_NAME}" kernel in ${target}`);
  log(`  it runs ${TSLAB_SCRIPT} with Node.js ${process.version} (${process.execPath}).`);
  log(`  Run this again after moving the project or changing Node.js versions.`);
  return { target, kernels };
}

export function uninstall(info: JupyterInfo, location: SpecLocation, log: (line: string) => void): boolean {
  const target = path.join(kernelsDir(info, location), KERNEL_NAME);
  if (!fs.existsSync(path.join(target, "kernel.json"))) {
    log(`No ${KERNEL_NAME} kernel in ${path.dirname(target)}: nothing to remove.`);
    return false;
  }
  if (specProject(target) === undefined) {
    throw new Error(
      `${target} holds a kernel named ${KERNEL_NAME} that this script did not write; it was left alone. ` +
        `Remove it with: jupyter kernelspec uninstall ${KERNEL_NAME}`,
    );
  }
  fs.rmSync(target, { recursive: true, force: true });
  log(`Removed the ${KERNEL_NAME} kernel from ${target}`);
  return true;
}

/** Where Jupyter now finds the kernel, and whether that is the folder just written (a --prefix is not searched unless JUPYTER_PATH says so). */
function reportVisibility(kernels: Record<string, string>, expected: string | undefined, log: (line: string) => void): void {
  const found = kernels[KERNEL_NAME];
  if (expected !== undefined && (found === undefined || path.resolve(found) !== path.resolve(expected))) {
    log(
      found === undefined
        ? `Note: this Jupyter does not search ${path.dirname(expected)}; set JUPYTER_PATH=${path.dirname(path.dirname(expected))} for it to find the kernel.`
        : `Note: this Jupyter finds another ${KERNEL_NAME} kernel first, in ${found}.`,
    );
  } else if (expected === undefined && found !== undefined) {
    log(`Jupyter still finds a ${KERNEL_NAME} kernel in ${found} (another location: use --user, --sys-prefix or --prefix to remove it).`);
  }
}

function frontEndHint(info: JupyterInfo): string {
  const notebooks = path.join(PROJECT_ROOT, "notebooks");
  if (info.frontEnds.jupyterlab) return `Open the notebooks with: jupyter lab ${notebooks}`;
  if (info.frontEnds.notebook || info.frontEnds.nbclassic) return `Open the notebooks with: jupyter notebook ${notebooks}`;
  return `This Python has Jupyter's kernel tools but no front end.\n${JUPYTER_INSTALL_HELP}`;
}

function parseLocation(values: { user?: boolean; "sys-prefix"?: boolean; prefix?: string }): SpecLocation {
  const chosen = [values.user, values["sys-prefix"], values.prefix !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new Error("Expected at most one of --user, --sys-prefix, --prefix DIR but received several.");
  if (values.prefix !== undefined) return { kind: "prefix", prefix: values.prefix };
  if (values["sys-prefix"]) return { kind: "sys-prefix" };
  return { kind: "user" };
}

const USAGE = `Usage: kernel.ts <install|uninstall|status> [--python PATH] [--user | --sys-prefix | --prefix DIR]
  install    register the "${KERNEL_DISPLAY_NAME}" kernel (safe to run again)
  uninstall  remove it again
  status     show which Python has Jupyter and where the kernel is registered
  --python   the Python that has Jupyter (default: the one the \`jupyter\` command uses, else python3)
  --user     the per-user registry (default), --sys-prefix the Python's environment, --prefix DIR any folder`;

export function main(argv: string[], log: (line: string) => void = console.log): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      python: { type: "string" },
      user: { type: "boolean" },
      "sys-prefix": { type: "boolean" },
      prefix: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (values.help || positionals.length !== 1 || !["install", "uninstall", "status"].includes(command)) {
    log(USAGE);
    return values.help ? 0 : 2;
  }
  const location = parseLocation(values);
  const info = findJupyterPython(values.python);
  log(`Jupyter found in ${info.python}`);
  if (command === "install") {
    const { target, kernels } = install(info, location, log);
    reportVisibility(kernels, target, log);
    log(frontEndHint(info));
  } else if (command === "uninstall") {
    uninstall(info, location, log);
    reportVisibility(findJupyterPython(info.python).kernels, undefined, log);
  } else {
    const found = info.kernels[KERNEL_NAME];
    log(found ? `The ${KERNEL_NAME} kernel is registered in ${found} (project: ${specProject(found) ?? "unknown"})` : `The ${KERNEL_NAME} kernel is not registered.`);
    log(frontEndHint(info));
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
