/**
 * The relative imports of TypeScript sources, resolved the way tslab resolves them at run time, for the tslab
 * compatibility test (every import the notebooks reach must resolve) and the benchmark's stand-in cache (which
 * sources shape a stand-in).
 *
 * tslab (node_modules/tslab/dist/executor.js, `requireFromSideOutputs`) compiles the .ts files a notebook imports
 * to side outputs and resolves a relative `require(id)` as `path.join(dir, id)` plus ".js" when `id` has no
 * extension, looked up among those outputs; anything else falls through to Node's `require`, which finds no .ts
 * file. So "./hub" is hub.ts or nothing: a folder's index.ts is never found, and neither is "./x.ts".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export interface UnresolvedImport {
  /** The importing file, absolute. */
  file: string;
  specifier: string;
}

/** The module specifiers of `file`'s imports, exports and dynamic imports that start with "./" or "../". */
export function relativeSpecifiers(file: string): string[] {
  const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((name) => name.startsWith("./") || name.startsWith("../"));
}

/** The source file tslab runs for `specifier` imported from `fromFile`, or undefined where tslab finds none. */
export function resolveLikeTslab(fromFile: string, specifier: string): string | undefined {
  let target = path.join(path.dirname(fromFile), specifier);
  if (path.extname(target) === "") target += ".js";
  const source = target.endsWith(".js") ? `${target.slice(0, -3)}.ts` : undefined;
  if (source !== undefined && isFile(source)) return source;
  // A real JavaScript or JSON file: Node's require loads it. Never a .ts file, which Node can't run.
  return NODE_EXTENSIONS.includes(path.extname(target)) && isFile(target) ? target : undefined;
}

const NODE_EXTENSIONS = [".js", ".cjs", ".json"];

/**
 * Every source file reachable from `entries` through relative imports (the entries included, sorted), and the
 * imports tslab could not resolve.
 */
export function relativeImportClosure(entries: readonly string[]): { files: string[]; unresolved: UnresolvedImport[] } {
  const seen = new Set<string>();
  const unresolved: UnresolvedImport[] = [];
  const pending = entries.map((e) => path.resolve(e));
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith(".ts")) continue;
    for (const specifier of relativeSpecifiers(file)) {
      const resolved = resolveLikeTslab(file, specifier);
      if (resolved === undefined) unresolved.push({ file, specifier });
      else pending.push(resolved);
    }
  }
  return { files: [...seen].sort(), unresolved };
}

function isFile(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}
