/**
 * Reading an HTTP response body under a byte limit, for the two plain-URL readers (image URLs in image.ts, the
 * sample photo in hub/download-to-file.ts). A body is refused from its Content-Length when that is already over
 * the limit, and otherwise stopped at the first chunk that passes it: a server may send more than it announces,
 * or never stop. (Model files have their own, exact limit: the size the Hub lists; see hub/transfer.ts.)
 */

/** Default limit for a body read by URL: far above any photo, far below what would exhaust memory or disk. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 2 ** 20;

/** The body is, or announces to be, larger than `maxBytes`; `announced` is its Content-Length when that said so. */
export class BodyTooLargeError extends Error {
  constructor(
    readonly maxBytes: number,
    readonly announced: number | null,
  ) {
    super(
      announced !== null
        ? `its Content-Length is ${announced.toLocaleString("en-US")} bytes, more than maxBytes = ${describeLimit(maxBytes)}`
        : `more than maxBytes = ${describeLimit(maxBytes)} arrived`,
    );
  }
}

/** `268,435,456 bytes (256 MiB)`: the exact number to pass back, and a size a reader takes in at a glance. */
export function describeLimit(maxBytes: number): string {
  const mib = maxBytes / 2 ** 20;
  return `${maxBytes.toLocaleString("en-US")} bytes${mib >= 1 ? ` (${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB)` : ""}`;
}

/**
 * Hands `res`'s body to `onChunk` chunk by chunk and returns its length; throws BodyTooLargeError (after
 * cancelling the body) as soon as it is known to exceed `maxBytes`. Errors of the network or of `onChunk`
 * pass through unchanged.
 */
export async function readBodyWithLimit(
  res: Response,
  maxBytes: number,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
): Promise<number> {
  const announced = res.headers.get("content-length");
  if (announced !== null && Number(announced) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError(maxBytes, Number(announced));
  }
  if (!res.body) return 0;
  let total = 0;
  // for-await cancels the body when the loop is left early (a throw from here or from onChunk).
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new BodyTooLargeError(maxBytes, null);
    await onChunk(chunk);
  }
  return total;
}
