/**
 * Reading an image input into RGB pixels, as Pillow's `Image.open(f).convert("RGB")` reads it: bytes from a path,
 * an http(s) URL or memory (with size and time limits), the header checked (format, size, pixel limit) before
 * anything is decoded, then the pixels decoded with sharp. image.ts turns the pixels into `pixel_values`.
 *
 * Decoding matches Pillow: no EXIF rotation, no ICC colour management, alpha dropped without compositing, CMYK
 * with Pillow's formula, 16-bit samples cut to their high byte.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import type { Metadata, OutputInfo } from "sharp";
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, describeLimit, readBodyWithLimit } from "../util/http-body";
import { describeValue } from "../util/describe";
import { checkRgbImage, isRgbImage, type RgbImage } from "./rgb-image";

/** A file path, an http(s) URL, or the bytes of an encoded image file. */
export type ImageInput = string | Buffer | Uint8Array;

export interface LoadImageOptions {
  /**
   * Refuse images with more pixels (width x height) than this, before decoding them (decompression bombs).
   * Default {@link DEFAULT_MAX_PIXELS}; `Infinity` turns the check off.
   */
  maxPixels?: number;
  /** For http(s) URLs: give up when the whole download takes longer than this. Default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /**
   * For http(s) URLs and files: refuse an encoded image larger than this many bytes before reading it whole
   * (from the Content-Length or the file's size), or as soon as more arrive. Default {@link DEFAULT_MAX_BYTES};
   * `Infinity` turns the check off. Buffers are not checked: they are already in memory.
   */
  maxBytes?: number;
}

/** Pillow raises DecompressionBombError above 2 x `Image.MAX_IMAGE_PIXELS` (89,478,485): the reference's own limit. */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** 256 MiB: far above any photo (a 100-megapixel PNG is about 150 MB), far below what would exhaust memory. */
export const DEFAULT_MAX_BYTES = DEFAULT_MAX_BODY_BYTES;

/** sharp's format ids that Pillow, and so the reference, also reads. */
const SUPPORTED_FORMATS: readonly string[] = ["jpeg", "png", "webp", "gif", "tiff"];
const SUPPORTED_LIST = "JPEG, PNG, WebP, GIF or TIFF";

/** Any failure to turn an {@link ImageInput} into pixels; `input` names what was given. */
export class ImageLoadError extends Error {
  override readonly name = "ImageLoadError";
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
  }
}

interface EncodedImage {
  bytes: Buffer;
  /** How messages name the input: a quoted path, a URL, or "the Buffer of N bytes". */
  label: string;
}

/**
 * An image read and checked but not decoded: its encoded bytes and its header (format, size). Decoding it
 * (`decodeImage`) is the step that costs width x height x 3 bytes, so a batch opens every image up front (a bad
 * file fails before any session runs) and decodes each one only when its turn comes.
 */
export interface OpenedImage extends EncodedImage {
  header: ImageHeader;
  maxPixels: number;
}

/** Reads an image file, URL or encoded bytes into RGB pixels, as Pillow's `Image.open(f).convert("RGB")` would. */
export async function loadImageRgb(input: ImageInput, options: LoadImageOptions = {}): Promise<RgbImage> {
  return decodeImage(await openImage(input, options));
}

/** Reads an image's bytes and checks its header (format, size, pixel limit) without decoding its pixels. */
export async function openImage(input: ImageInput, options: LoadImageOptions = {}): Promise<OpenedImage> {
  const { maxPixels, timeoutMs, maxBytes } = checkLoadOptions(options);
  return openEncoded(await readEncodedImage(input, timeoutMs, maxBytes), maxPixels);
}

/**
 * `openImage` for the bytes of a file already read (the caller hashed them), with messages that name the file by
 * `file` as `openImage(file)` would.
 */
export async function openImageFileBytes(bytes: Buffer, file: string, options: LoadImageOptions = {}): Promise<OpenedImage> {
  const { maxPixels } = checkLoadOptions(options);
  const encoded = { bytes, label: `"${file}"` };
  if (bytes.length === 0) throw emptyImage(encoded);
  return openEncoded(encoded, maxPixels);
}

async function openEncoded(encoded: EncodedImage, maxPixels: number): Promise<OpenedImage> {
  const header = await readHeader(encoded);
  checkPixelLimit(encoded, header, maxPixels);
  return { ...encoded, header, maxPixels };
}

/** The RGB pixels of an opened image. */
export function decodeImage(image: OpenedImage): Promise<RgbImage> {
  return decodeToRgb(image, image.header, image.maxPixels);
}

/**
 * Decoded pixels for any image argument: an RgbImage as it is, once `checkRgbImage` (naming `who`) accepts it;
 * anything else read with `loadImageRgb`.
 */
export async function readRgbImage(input: ImageInput | RgbImage, who: string, options: LoadImageOptions = {}): Promise<RgbImage> {
  return isRgbImage(input) ? checkRgbImage(input, who) : loadImageRgb(input, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Input checks

function checkLoadOptions(options: LoadImageOptions): Required<LoadImageOptions> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof maxPixels !== "number" || !(maxPixels >= 1) || (!Number.isInteger(maxPixels) && maxPixels !== Infinity)) {
    throw new Error(`loadImageRgb: expected a positive integer or Infinity for maxPixels but received ${describeValue(maxPixels)}.`);
  }
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new Error(`loadImageRgb: expected a positive number of milliseconds for timeoutMs but received ${describeValue(timeoutMs)}.`);
  }
  if (typeof maxBytes !== "number" || !(maxBytes >= 1) || (!Number.isInteger(maxBytes) && maxBytes !== Infinity)) {
    throw new Error(`loadImageRgb: expected a positive integer or Infinity for maxBytes but received ${describeValue(maxBytes)}.`);
  }
  return { maxPixels, timeoutMs, maxBytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Bytes from a path, a URL or memory

const HTTP_URL = /^https?:\/\//i;
const OTHER_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

async function readEncodedImage(input: ImageInput, timeoutMs: number, maxBytes: number): Promise<EncodedImage> {
  let encoded: EncodedImage;
  if (typeof input === "string") {
    if (HTTP_URL.test(input)) encoded = { bytes: await download(input, timeoutMs, maxBytes), label: input };
    else if (OTHER_URL.test(input)) {
      throw new ImageLoadError(
        `Cannot load image ${input}: only http:// and https:// URLs are supported. ` +
          `Download the file and pass its path, or pass its bytes as a Buffer.`,
        input,
      );
    } else encoded = { bytes: await readImageFile(input, maxBytes), label: `"${input}"` };
  } else if (input instanceof Uint8Array) {
    const kind = Buffer.isBuffer(input) ? "Buffer" : "Uint8Array";
    encoded = {
      bytes: Buffer.from(input.buffer, input.byteOffset, input.byteLength),
      label: `the ${kind} of ${input.byteLength} bytes`,
    };
  } else {
    throw new ImageLoadError(
      `Cannot load an image from ${describeValue(input)}: expected a file path, an http(s) URL, ` +
        `or a Buffer/Uint8Array holding an encoded ${SUPPORTED_LIST} file.`,
      describeValue(input),
    );
  }
  if (encoded.bytes.length === 0) throw emptyImage(encoded);
  return encoded;
}

function emptyImage(encoded: EncodedImage): ImageLoadError {
  return new ImageLoadError(
    `Cannot load image ${encoded.label}: it is empty (0 bytes). Expected an encoded ${SUPPORTED_LIST} image; ` +
      `check that the file was written or downloaded completely.`,
    encoded.label,
  );
}

async function readImageFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, "r");
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new ImageLoadError(
        `Cannot load image "${file}": the file is ${size.toLocaleString("en-US")} bytes, more than maxBytes = ` +
          `${describeLimit(maxBytes)}. If it really is an image you want, pass a larger { maxBytes } (or Infinity).`,
        `"${file}"`,
      );
    }
    return await handle.readFile();
  } catch (err) {
    if (err instanceof ImageLoadError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const where = `(resolved to ${path.resolve(file)} from the current directory ${process.cwd()})`;
    const reason =
      code === "ENOENT"
        ? `no such file ${where}. Check the path, or pass an absolute one`
        : code === "EISDIR"
          ? `it is a directory ${where}, not an image file. Pass the path of one image inside it`
          : code === "EACCES" || code === "EPERM"
            ? `permission denied ${where}. Make the file readable or copy it somewhere readable`
            : `the file could not be read (${code ?? (err as Error).message}) ${where}`;
    throw new ImageLoadError(`Cannot load image "${file}": ${reason}.`, `"${file}"`);
  } finally {
    await handle?.close();
  }
}

async function download(url: string, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  const fail = (reason: string): ImageLoadError =>
    new ImageLoadError(`Cannot download image ${url}: ${reason}`, url);
  const networkFailure = (err: unknown): ImageLoadError => {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      return fail(
        `no complete answer within ${timeoutMs} ms (timeoutMs). Check the network and the URL, ` +
          `or pass a larger timeoutMs.`,
      );
    }
    const detail = e.cause?.code ?? e.cause?.message ?? e.message;
    return fail(`the request failed (${detail}). Check the network and the URL, or download the image and pass its path.`);
  };
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw networkFailure(err);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw fail(
      `the server answered HTTP ${response.status} ${response.statusText}. Check the URL (open it in a browser), ` +
        `or download the image and pass its path.`,
    );
  }
  const chunks: Uint8Array[] = [];
  try {
    await readBodyWithLimit(response, maxBytes, (chunk) => void chunks.push(chunk));
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      throw fail(
        `${err.message}. If you trust this URL, pass a larger { maxBytes } (or Infinity), or download the image ` +
          `and pass its path.`,
      );
    }
    throw networkFailure(err);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------------------------
// Header: format, size, pixel limit

export interface ImageHeader {
  format: string;
  width: number;
  height: number;
  /** sharp's colour space name, e.g. "srgb", "b-w", "cmyk". */
  space: string;
}

async function readHeader(encoded: EncodedImage): Promise<ImageHeader> {
  let meta: Metadata;
  try {
    // No pixel limit here: checkPixelLimit gives the clearer message.
    meta = await sharp(encoded.bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw unreadableHeader(encoded, (err as Error).message);
  }
  const format = meta.format ?? "unknown";
  if (!SUPPORTED_FORMATS.includes(format)) {
    throw new ImageLoadError(
      `Cannot load image ${encoded.label}: its format is ${format.toUpperCase()}, but only ${SUPPORTED_LIST} ` +
        `images are supported (formats the reference's Pillow reads too). Convert it first, e.g. ` +
        `\`await sharp(input).png().toBuffer()\`, or pass decoded pixels as an RgbImage.`,
      encoded.label,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width <= 0 || height <= 0) throw zeroSized(encoded, width, height);
  return { format, width, height, space: meta.space ?? "srgb" };
}

function checkPixelLimit(encoded: EncodedImage, header: ImageHeader, maxPixels: number): void {
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new ImageLoadError(
      `Refusing to decode image ${encoded.label}: ${header.width}x${header.height} = ${pixels.toLocaleString("en-US")} ` +
        `pixels is above maxPixels = ${maxPixels.toLocaleString("en-US")} (a guard against decompression bombs). ` +
        `If you trust this image, pass { maxPixels: ${pixels} } (or Infinity), or shrink it first.`,
      encoded.label,
    );
  }
}

function zeroSized(encoded: EncodedImage, width: number, height: number): ImageLoadError {
  return new ImageLoadError(
    `Cannot load image ${encoded.label}: it declares a size of ${width}x${height} pixels, but an image needs at ` +
      `least 1x1. Re-export the image.`,
    encoded.label,
  );
}

/** Byte signatures, used only to say what a file is when sharp cannot read it. */
const SIGNATURES: readonly { name: string; bytes: readonly (number | null)[] }[] = [
  { name: "JPEG", bytes: [0xff, 0xd8, 0xff] },
  { name: "PNG", bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { name: "GIF", bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: "WebP", bytes: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50] },
  { name: "TIFF", bytes: [0x49, 0x49, 0x2a, 0x00] },
  { name: "TIFF", bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  { name: "BMP", bytes: [0x42, 0x4d] },
  { name: "ICO", bytes: [0x00, 0x00, 0x01, 0x00] },
  { name: "PDF", bytes: [0x25, 0x50, 0x44, 0x46] },
  { name: "Photoshop PSD", bytes: [0x38, 0x42, 0x50, 0x53] },
  { name: "ZIP", bytes: [0x50, 0x4b, 0x03, 0x04] },
  { name: "gzip", bytes: [0x1f, 0x8b] },
];

function sniffFormat(bytes: Buffer): string | undefined {
  return SIGNATURES.find((s) => s.bytes.length <= bytes.length && s.bytes.every((b, i) => b === null || bytes[i] === b))
    ?.name;
}

/** The first characters, when the data looks like text (an HTML error page, a renamed .txt file). */
function textPreview(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 48).toString("utf8");
  if (head.includes("\uFFFD") || /[\u0000-\u0008\u000E-\u001F\u007F]/.test(head)) return undefined;
  return head.replace(/\s+/g, " ").trim();
}

function unreadableHeader(encoded: EncodedImage, sharpMessage: string): ImageLoadError {
  const { bytes, label } = encoded;
  const format = sniffFormat(bytes);
  if (format === "PNG" && bytes.length >= 24 && (bytes.readUInt32BE(16) === 0 || bytes.readUInt32BE(20) === 0)) {
    return zeroSized(encoded, bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  }
  const sharpSays = `(sharp: ${sharpMessage.split("\n")[0]})`;
  let reason: string;
  if (format && SUPPORTED_FORMATS.includes(format.toLowerCase())) {
    reason = `its ${format} header is corrupt or cut short ${sharpSays}. Re-download or re-export the image`;
  } else if (format) {
    reason =
      `its format is ${format}, which is not supported ${sharpSays}. Expected ${SUPPORTED_LIST}; ` +
      `convert it first (e.g. save it as PNG)`;
  } else {
    const text = textPreview(bytes);
    reason = text
      ? `it is text, not an image (it starts with "${text}"). Expected ${SUPPORTED_LIST} data, whatever the ` +
        `file name's extension says; check that this is the image you meant (a URL may have returned a web page)`
      : `its data is not a ${SUPPORTED_LIST} image (no known signature) ${sharpSays}. ` +
        `Check that this is the image you meant`;
  }
  return new ImageLoadError(`Cannot load image ${label}: ${reason}.`, label);
}

// ---------------------------------------------------------------------------------------------------------------
// Pixels

async function decodeToRgb(encoded: EncodedImage, header: ImageHeader, maxPixels: number): Promise<RgbImage> {
  const cmyk = header.space === "cmyk";
  // ignoreIcc: Pillow does no colour management, and sharp would otherwise convert embedded profiles to sRGB.
  // failOn "truncated": refuse cut-off files like Pillow does, but accept the recoverable warnings Pillow accepts.
  // No autoOrient: the reference does not apply EXIF rotation. The first frame/page only, like Image.open.
  let pipeline = sharp(encoded.bytes, {
    ignoreIcc: true,
    failOn: "truncated",
    limitInputPixels: maxPixels === Infinity ? false : maxPixels,
    pages: 1,
  });
  // Keep CMYK as stored so that Pillow's own CMYK -> RGB formula can be applied (sharp would use an ICC profile).
  if (cmyk) pipeline = pipeline.pipelineColourspace("cmyk").toColourspace("cmyk");
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new ImageLoadError(
      `Cannot decode image ${encoded.label}: the ${header.format.toUpperCase()} data is truncated or corrupt ` +
        `(sharp: ${(err as Error).message.split("\n")[0]}). Re-download or re-export the image.`,
      encoded.label,
    );
  }
  const { data, info } = raw;
  // Raw output is 8-bit: sharp reduces 16-bit PNG/TIFF samples to their high byte, as Pillow does for RGB;16B.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const pixels = info.width * info.height;
  if (info.channels === 3 && !cmyk) return { data: bytes, width: info.width, height: info.height };
  if (cmyk && info.channels === 4) return { data: cmykToRgb(bytes, pixels), width: info.width, height: info.height };
  if (info.channels === 1 || info.channels === 2) {
    return { data: greyToRgb(bytes, pixels, info.channels), width: info.width, height: info.height };
  }
  if (info.channels === 4) return { data: dropAlpha(bytes, pixels), width: info.width, height: info.height };
  throw new ImageLoadError(
    `Cannot load image ${encoded.label}: it has ${info.channels} channels in colour space ${header.space}; ` +
      `expected grey, grey + alpha, RGB, RGBA or CMYK. Convert it to RGB first.`,
    encoded.label,
  );
}

/** Grey (or grey + alpha) -> RGB by repeating the grey value, as Pillow's L/LA -> RGB does. */
function greyToRgb(src: Uint8Array, pixels: number, channels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += channels, o += 3) {
    const v = src[i];
    out[o] = v;
    out[o + 1] = v;
    out[o + 2] = v;
  }
  return out;
}

/** RGBA -> RGB keeping the colour under transparent pixels: Pillow's convert("RGB") drops alpha, no compositing. */
function dropAlpha(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    out[o] = src[i];
    out[o + 1] = src[i + 1];
    out[o + 2] = src[i + 2];
  }
  return out;
}

/**
 * Pillow's `cmyk2rgb` (Convert.c): channel = (255 - K) - C * (255 - K) / 255, with its integer rounding of the
 * product. A plain formula, no ICC profile, so the colours match what the reference would see after convert("RGB").
 */
function cmykToRgb(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  const scaledBy = (value: number, notBlack: number): number => {
    const t = value * notBlack + 128;
    return ((t >> 8) + t) >> 8; // value * notBlack / 255, rounded
  };
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    const notBlack = 255 - src[i + 3];
    out[o] = notBlack - scaledBy(src[i], notBlack);
    out[o + 1] = notBlack - scaledBy(src[i + 1], notBlack);
    out[o + 2] = notBlack - scaledBy(src[i + 2], notBlack);
  }
  return out;
}
