/**
 * `npm start -- --images <folder or files>`: the photo files the user named. A folder stands for its image files
 * (by extension, not its subfolders), a file for itself, whatever its name; each file is listed once, by its
 * absolute path, which is also how the results file knows it on a later run.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The extensions of the formats the image reader takes (JPEG, PNG, WebP, GIF, TIFF), lower case. */
export const IMAGE_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff"];

export interface ImageFileList {
  /** Absolute paths: a folder's images sorted by name, in the order the paths were given, each once. */
  files: string[];
  /**
   * For each of `files`, its path relative to the folder it was listed from, or the path as given for a file named on
   * its own: what --shard hashes, the same wherever the collection is mounted.
   */
  keys: string[];
  /** Files inside the folders that were passed over for their extension (not hidden files), with their folder. */
  ignored: string[];
}

/** Thrown when a path does not exist, or nothing to run on was found. */
export class ImageFilesError extends Error {
  override name = "ImageFilesError";
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/** The files to run on, from the paths given to --images (relative ones against `cwd`). */
export function listImageFiles(paths: readonly string[], cwd: string = process.cwd()): ImageFileList {
  const files: string[] = [];
  const keys: string[] = [];
  const ignored: string[] = [];
  const seen = new Set<string>();
  const add = (file: string, key: string) => {
    if (!seen.has(file)) {
      files.push(file);
      keys.push(key);
    }
    seen.add(file);
  };
  for (const given of paths) {
    const absolute = path.resolve(cwd, given);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(absolute);
    } catch {
      throw new ImageFilesError(`--images: there is no file or folder "${given}" (looked at ${absolute}). Check the path.`);
    }
    if (!stat.isDirectory()) {
      add(absolute, path.normalize(given));
      continue;
    }
    const entries = fs.readdirSync(absolute, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const file = path.join(absolute, entry.name);
      // A link to a file counts as the file; subfolders are not searched.
      const isFile = entry.isFile() || (entry.isSymbolicLink() && fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true);
      if (!isFile) continue;
      if (isImageName(entry.name)) add(file, entry.name);
      else ignored.push(file);
    }
  }
  if (files.length === 0) {
    const looked = paths.map((p) => `"${p}"`).join(", ");
    throw new ImageFilesError(
      `--images: no image files in ${looked} (looked for ${IMAGE_EXTENSIONS.join(" ")}, not in subfolders)` +
        (ignored.length > 0 ? `; passed over ${ignored.length} other file${ignored.length === 1 ? "" : "s"}, e.g. ${path.basename(ignored[0])}` : "") +
        ". Name image files or a folder that holds some.",
    );
  }
  return { files, keys, ignored };
}
