/**
 * `npm run bench`: Florence-2 on stand-ins of the real size, our engine against transformers.js on the same
 * files. Prints progress and the verdicts on issue 6's targets, and writes the Markdown report (--out).
 * `npm run bench -- --help` lists the options.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runBenchmark } from "./benchmark";
import { parseBenchArgs, USAGE } from "./options";
import { renderResults, renderVerdicts, type BenchResults } from "./report";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  // Every figure of the last run, for analysis beyond the tables and for --rerender (in the ignored models folder:
  // it is this machine's run, not a result to commit).
  const lastResults = path.join(options.modelsDir, "last-results.json");
  let results: BenchResults;
  if (options.rerender) {
    if (!fs.existsSync(lastResults)) throw new Error(`--rerender needs the figures of a previous run in ${lastResults}; run the benchmark first.`);
    results = JSON.parse(fs.readFileSync(lastResults, "utf8")) as BenchResults;
  } else {
    results = await runBenchmark(options, argv, log);
    fs.writeFileSync(lastResults, JSON.stringify(results, null, 1));
  }
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, renderResults(results));
  log("");
  log(renderVerdicts(results));
  log("");
  log(`Results written to ${path.relative(process.cwd(), options.out)} (stand-in weights: random weights, real compute).`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
