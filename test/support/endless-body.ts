import type * as http from "node:http";

/** What an endless response sends at most, so that code without a size limit fails instead of exhausting memory. */
export const ENDLESS_CAP = 64 * 2 ** 20;

/**
 * Sends `chunk` again and again as `res`'s body, with back-pressure, until the client goes away or ENDLESS_CAP bytes
 * are out; `counter.sent` counts the bytes, so a test can check that its client stopped reading early.
 */
export function sendEndless(res: http.ServerResponse, chunk: Buffer, counter: { sent: number }): void {
  const pump = () => {
    while (!res.destroyed && counter.sent < ENDLESS_CAP) {
      counter.sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
}
