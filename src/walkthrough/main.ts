/**
 * The main job, `npm start`: what the Colab walkthrough (Florence-2-Colaboratory-Sample) does, without Jupyter.
 * Loads Florence-2-base-ft (downloading it on first use), runs the walkthrough's 14 tasks on its photos, prints
 * each parsed result with IPython-style `%%time` lines, writes each drawn result as a PNG, and ends with a table
 * and a chart of this run's times beside the seed's T4 figures. Or runs tasks on the user's own photos (--images).
 *
 *   npm start                                   # everything, as the walkthrough
 *   npm start -- --tasks OD,OCR --num-beams 1   # options come after `--`
 *   npm start -- --batch                        # then the same tasks as one batch, both times shown
 *   npm start -- --standin                      # the same flow on a generated random-weight stand-in
 *   npm start -- --images photos/ --tasks CAPTION,OD --out results.jsonl
 */
import { USAGE, UsageError, parseWalkthroughArgs } from "./cli";
import { ImageFilesError } from "./image-files";
import { runImages } from "./images-run";
import { ResultsFileError } from "./results-file";
import { runWalkthrough } from "./run";

/** Exit codes: done, an error, a wrong command line, and (--images) stopped by Ctrl-C (128 + SIGINT's 2). */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;

/** Parses the command line, runs, and turns errors into one clear line and an exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  try {
    const options = parseWalkthroughArgs(argv);
    if (!options) {
      console.log(USAGE);
      return EXIT.ok;
    }
    if (options.mode === "walkthrough") {
      await runWalkthrough(options);
      return EXIT.ok;
    }
    // Ctrl-C ends the batch in progress; the results file keeps every line written. A second Ctrl-C ends the
    // process at once (Node's default), which leaves the file whole too: each line is written with one write.
    const stop = new AbortController();
    const onSigint = () => {
      process.stderr.write("\nStopping after Ctrl-C (again to quit at once) ...\n");
      stop.abort(new Error("stopped by Ctrl-C"));
    };
    process.once("SIGINT", onSigint);
    try {
      const summary = await runImages(options, { signal: stop.signal });
      if (summary.interrupted) return EXIT.interrupted;
      return summary.skipped.length > 0 ? EXIT.error : EXIT.ok;
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ImageFilesError || err instanceof ResultsFileError) {
      console.error(`Error: ${err.message}\nRun "npm start -- --help" for the options.`);
      return EXIT.usage;
    }
    // Errors of this project say what went wrong and what to do; a stack trace would only bury that.
    console.error(`Error: ${(err as Error)?.message ?? String(err)}`);
    return EXIT.error;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
