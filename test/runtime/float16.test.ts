import * as assert from "node:assert/strict";
import { float16ToFloat32, float32ToFloat16 } from "../../src/runtime/float16";
import { float16Bits, fromFloat16Bits } from "../support/float16-reference";

describe("float16 conversion", () => {
  const allHalves = Uint16Array.from({ length: 65536 }, (_, i) => i);

  it("float16 -> float32 is exact for all 65,536 bit patterns", () => {
    const f = float16ToFloat32(allHalves);
    for (let h = 0; h < 65536; h++) {
      const expected = fromFloat16Bits(h);
      if (Number.isNaN(expected)) assert.ok(Number.isNaN(f[h]), `h=${h}`);
      else assert.ok(Object.is(f[h], expected), `h=${h.toString(16)}: ${f[h]} vs ${expected}`);
    }
  });

  it("float32 -> float16 gives back every half value (NaN stays NaN)", () => {
    const back = float32ToFloat16(float16ToFloat32(allHalves));
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(fromFloat16Bits(h))) assert.ok(Number.isNaN(fromFloat16Bits(back[h])), `h=${h}`);
      else assert.equal(back[h], h, `h=${h.toString(16)}`);
    }
  });

  it("rounds to nearest, ties to even, at every midpoint between neighbouring halves", () => {
    // Positive finite halves in order; their midpoints are exact in float32 (11 -> 12 significant bits).
    const mids: number[] = [];
    const expected: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const lo = fromFloat16Bits(h);
      const hi = fromFloat16Bits(h + 1);
      const mid = (lo + hi) / 2;
      assert.equal(Math.fround(mid), mid);
      const even = h % 2 === 0 ? h : h + 1;
      mids.push(mid, Math.fround(mid * (1 - 2 ** -23)), Math.fround(mid * (1 + 2 ** -23)), -mid);
      expected.push(even, h, h + 1, 0x8000 | even);
    }
    const got = float32ToFloat16(new Float32Array(mids));
    for (let i = 0; i < mids.length; i++) assert.equal(got[i], expected[i], `value ${mids[i]}`);
  });

  it("overflows to Inf from 65520 and underflows to signed zero at 2^-25", () => {
    const got = float32ToFloat16(new Float32Array([65504, 65519.996, 65520, 1e6, Infinity, -Infinity, 2 ** -25, 2 ** -25 * 1.0001, -0, 1e-30]));
    assert.deepEqual(Array.from(got), [0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x7c00, 0xfc00, 0, 1, 0x8000, 0]);
    assert.ok(Number.isNaN(fromFloat16Bits(float32ToFloat16(new Float32Array([NaN]))[0])));
  });

  it("agrees with an independent float16 writer (test/support) on random values", () => {
    let seed = 12345;
    const values = new Float32Array(100000).map(() => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed / 2 ** 32 - 0.5) * 2 ** ((seed % 50) - 30);
    });
    const ours = float32ToFloat16(values);
    for (let i = 0; i < values.length; i++) assert.equal(ours[i], float16Bits(values[i]), `value ${values[i]}`);
  });

  it("converts subarray views (nonzero byte offset) correctly", () => {
    const buffer = new Float32Array([9, 1.5, -2, 0.1]);
    assert.deepEqual(Array.from(float32ToFloat16(buffer.subarray(1))), [0x3e00, 0xc000, 0x2e66]);
  });
});
