/**
 * Opens a model folder's sessions in a process of its own and prints the outcome as one JSON line: for tests that
 * need a process limit (test/runtime/sessions.test.ts runs it under `ulimit -v` to meet onnxruntime's out-of-memory).
 */
import { readModelConfig } from "../../src/runtime/config";
import { ModelLoadError } from "../../src/runtime/load-errors";
import { openSessions } from "../../src/runtime/sessions";

(async () => {
  const folder = process.argv[2];
  try {
    const s = await openSessions(folder, readModelConfig(folder));
    await s.release();
    console.log(JSON.stringify({ opened: true }));
  } catch (err) {
    const e = err as Error;
    console.log(JSON.stringify({ kind: e instanceof ModelLoadError ? e.kind : e.name, message: e.message, cause: (e.cause as Error)?.message }));
  }
})();
