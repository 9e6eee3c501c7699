import { strict as assert } from "node:assert";
import { checkImageSize, checkRgbImage, isRgbImage, sizeOf, type RgbImage } from "../../src/image/rgb-image";

describe("rgb-image", () => {
  it("tells decoded pixels from paths, URLs and encoded bytes", () => {
    assert.equal(isRgbImage({ data: new Uint8Array(3), width: 1, height: 1 }), true);
    assert.equal(isRgbImage({ data: [1, 2, 3] }), true, "meant as pixels, even if malformed: checkRgbImage says why");
    for (const other of ["photo.jpg", "https://example.com/a.png", Buffer.alloc(3), new Uint8Array(3), null, 42, {}]) {
      assert.equal(isRgbImage(other), false, String(other));
    }
  });

  it("accepts an image whose data fits its size, and names the caller and the problem otherwise", () => {
    const image: RgbImage = { data: new Uint8Array(2 * 3 * 3), width: 2, height: 3 };
    assert.equal(checkRgbImage(image, "f"), image);
    const rows: [unknown, RegExp][] = [
      [{ data: image.data, width: 0, height: 3 }, /^Error: f: expected an RgbImage with positive integer width and height but received 0x3\.$/],
      [{ data: image.data, width: "2", height: 3 }, /received "2"x3/],
      [{ data: image.data, width: 3, height: 3 }, /^Error: f: expected an RgbImage whose data is a Uint8Array of width \* height \* 3 = 27 bytes \(RGB interleaved, row-major\) for its 3x3 pixels but received 18 bytes\.$/],
      [{ data: Array.from(image.data), width: 2, height: 3 }, /but received an array of length 18\./],
      [{ data: new Float32Array(18), width: 2, height: 3 }, /but received a Float32Array of 18 elements\./],
    ];
    for (const [bad, message] of rows) assert.throws(() => checkRgbImage(bad as RgbImage, "f"), message);
  });

  it("checks image sizes: { width, height } of finite numbers, > 0 or, where allowed, >= 0", () => {
    checkImageSize({ width: 640, height: 480 }, "size");
    checkImageSize({ width: 0, height: 0 }, "size", { allowZero: true });
    assert.throws(() => checkImageSize({ width: 0, height: 480 }, "size"), /^Error: Expected a positive finite number for size\.width but received 0\.$/);
    assert.throws(() => checkImageSize({ width: 640, height: -1 }, "size", { allowZero: true }), /finite number >= 0 for size\.height but received -1/);
    assert.throws(() => checkImageSize([640, 480], "size"), /received an array of length 2\. A \[width, height\] pair is not accepted: pass \{ width, height \}/);
  });

  it("takes the size of anything with a width and height", () => {
    assert.deepEqual(sizeOf({ data: new Uint8Array(3), width: 1, height: 1 } as RgbImage), { width: 1, height: 1 });
  });
});
