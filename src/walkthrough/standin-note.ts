/**
 * Stand-in models (src/standin) have random weights: every line that shows their output must say so, so that no
 * output can pass for Florence-2's.
 */
import { isStandInFolder } from "../standin/marker";

/** Printed before every line about a stand-in's output. */
export const STANDIN_NOTE = "[stand-in: random weights, not Florence-2's output]";

/** `STANDIN_NOTE` and a space for a stand-in's folder (`model.folder`), "" for a real model. */
export function standInNote(folder: string): string {
  return isStandInFolder(folder) ? `${STANDIN_NOTE} ` : "";
}

export { isStandInFolder };

/** Prints text line by line, each line of a stand-in's run starting with STANDIN_NOTE. */
export function notedPrinter(standin: boolean, write: (line: string) => void): (text: string) => void {
  return (text) => {
    for (const line of text.split("\n")) write(standin ? `${STANDIN_NOTE} ${line}` : line);
  };
}
