/**
 * The walkthrough's photos, downloaded once into the cache folder (`<cache>/samples/sample.jpg`, `sample2.jpg`;
 * the cache is `models/` unless FLORENCE2_CACHE says otherwise) and read from there afterwards, by `npm start`
 * and the notebooks alike.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { HubError, defaultCacheDir, downloadToFile, type TaskSpec } from "../index";
import { WALKTHROUGH_PHOTOS, photoOf, type PhotoId, type WalkthroughPhoto } from "./steps";

export interface PhotoOptions {
  /** Default: the model cache folder (`defaultCacheDir()`). */
  cacheDir?: string;
  /** Told once, before a download starts. Default: console.log. */
  log?: (line: string) => void;
  /** What to tell the user to do instead when the photo can't be had (default: set FLORENCE2_IMAGE). */
  instead?: string;
  /** Overrides the photo's URL (tests serve it from 127.0.0.1). */
  url?: string;
}

/** Where a walkthrough photo is cached. */
export function photoCacheFile(photo: WalkthroughPhoto, cacheDir: string = defaultCacheDir()): string {
  return path.join(cacheDir, "samples", photo.file);
}

/**
 * The local file of a walkthrough photo (by id, e.g. "market", or as the photo of a task, e.g. "<OCR>"),
 * downloading it on first use. Offline (HF_HUB_OFFLINE=1) it must already be cached.
 */
export async function walkthroughPhotoFile(photoOrTask: PhotoId | string | TaskSpec, options: PhotoOptions = {}): Promise<string> {
  const photo: WalkthroughPhoto =
    typeof photoOrTask === "string" && Object.prototype.hasOwnProperty.call(WALKTHROUGH_PHOTOS, photoOrTask)
      ? WALKTHROUGH_PHOTOS[photoOrTask as PhotoId]
      : photoOf(photoOrTask);
  const file = photoCacheFile(photo, options.cacheDir);
  const url = options.url ?? photo.url;
  const instead = options.instead ?? "set FLORENCE2_IMAGE to a photo of your own";
  if (fs.existsSync(file)) return file;
  if (/^(1|on|yes|true)$/i.test(process.env.HF_HUB_OFFLINE ?? "")) {
    throw new HubError(
      "OFFLINE_INCOMPLETE",
      `HF_HUB_OFFLINE is set and the walkthrough's photo ${photo.file} is not cached at ${file}: ${instead}, ` +
        `or copy the photo there.`,
    );
  }
  (options.log ?? console.log)(`Fetching the walkthrough's photo ${photo.file} (${photo.description}) once, from ${url}`);
  try {
    return await downloadToFile(url, file);
  } catch (err) {
    const code = err instanceof HubError ? err.code : "NETWORK";
    throw new HubError(code, `${(err as Error).message} Or ${instead}.`);
  }
}
