/** Fakes for the progress displays' tests: a stream that records what is written, a clock the test moves. */

/** A stream that records what is written. */
export function fakeStream(isTTY: boolean, columns: number) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (s: string) => (writes.push(s), true) } };
}

/** A clock the test moves, starting at `start` ms. */
export function fakeClock(start: number) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** ids as a decoder reports them: the start token 2, then `n` tokens. */
export const idsOf = (n: number): number[] => [2, ...Array.from({ length: n }, (_, i) => 10 + i)];
