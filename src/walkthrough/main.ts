/**
 * The main job, `npm start`: what the Colab walkthrough (Florence-2-Colaboratory-Sample) does, without Jupyter.
 * Loads Florence-2-base-ft (downloading it on first use), runs the walkthrough's 14 tasks on its photos, prints
 * each parsed result with IPython-style `%%time` lines, writes each drawn result as a PNG, and ends with a table
 * and a chart of this run's times beside the seed's T4 figures.
 *
 *   npm start                                   # everything, as the walkthrough
 *   npm start -- --tasks OD,OCR --num-beams 1   # options come after `--`
 *   npm start -- --standin                      # the same flow on a generated random-weight stand-in
 */
import { USAGE, UsageError, parseWalkthroughArgs } from "./cli";
import { runWalkthrough } from "./run";

/** Parses the command line, runs, and turns errors into one clear line and an exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  try {
    const options = parseWalkthroughArgs(argv);
    if (!options) {
      console.log(USAGE);
      return 0;
    }
    await runWalkthrough(options);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\nRun "npm start -- --help" for the options.`);
      return 2;
    }
    // Errors of this project say what went wrong and what to do; a stack trace would only bury that.
    console.error(`Error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
