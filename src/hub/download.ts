/**
 * Completing a cache folder: under the folder's lock, ask the Hub for the revision's commit and listing, pick
 * the files the dtype needs, keep the local ones that match, and download the rest one after another.
 *
 * A folder holds the files of one commit. Once it has verified files, the commit recorded in its manifest is the
 * one more files come from (a dtype added later gets the files of the commit the others came with, even if the
 * branch moved on); if the Hub no longer has that commit, nothing is added. A newer upload of a branch goes into
 * a fresh folder: delete the old one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createDownloadProgress, type DownloadProgress, type ProgressOption } from "./download-progress";
import { emptyManifest, inspectCache, readManifest, writeManifest, type Manifest } from "./cache";
import { HubClient } from "./client";
import { HubError, diskFullError } from "./errors";
import { makeFolder, statOrNull } from "./files";
import { selectFiles, type RemoteFile } from "./listing";
import { acquireLock } from "./lock";
import { partialBytes, removeDeadPartials } from "./partials";
import type { Settings } from "./settings";
import { downloadFile } from "./transfer";
import { contentMismatch, sameContent } from "./verify";

export async function downloadModel(
  s: Settings,
  wanted: readonly string[],
  progressOption: ProgressOption,
): Promise<void> {
  progressOption = guardProgress(progressOption);
  s.signal?.throwIfAborted();
  makeFolder(s.folder);
  const notice = (text: string) => progressNotice(progressOption, text);
  const release = await acquireLock(s.folder, notice, { timeoutMs: s.lockTimeoutMs, signal: s.signal }).catch(
    (err: unknown) => {
      removeEmptyFolders(s.folder, s.cacheDir);
      throw err;
    },
  );
  try {
    // Another process may have completed the folder while this one waited for the lock.
    if (inspectCache(s.folder, wanted).length === 0) return;
    const previous = readManifest(s.folder);
    const { commit, listing } = await commitAndListing(s, previous);
    const manifest = previous ?? emptyManifest(s, commit);
    manifest.commit = commit;
    manifest.revision = s.revision;
    manifest.endpoint = s.endpoint;
    manifest.listing = Object.fromEntries(listing.map((f) => [f.path, f]));
    const todo = await filesToDownload(s.folder, selectFiles(listing, wanted, s), manifest);
    writeManifest(s.folder, manifest);
    if (todo.length === 0) return;
    await checkFreeSpace(s.folder, todo);
    await downloadFiles(s, commit, todo, manifest, progressOption);
    removeDeadPartials(s.folder);
  } finally {
    release();
    removeEmptyFolders(s.folder, s.cacheDir);
  }
}

/** The files one after another, each recorded in the manifest once verified and in place. */
async function downloadFiles(
  s: Settings,
  commit: string,
  todo: readonly RemoteFile[],
  manifest: Manifest,
  progressOption: ProgressOption,
): Promise<void> {
  const progress = createDownloadProgress(s.repo, todo, progressOption);
  let finished = false;
  try {
    for (const file of todo) {
      await downloadFile(s, commit, file, progress, s.signal);
      manifest.files[file.path] = file;
      writeManifest(s.folder, manifest);
    }
    finished = true;
  } finally {
    finishProgress(progress, finished);
  }
}

const COMMIT = /^[0-9a-f]{40}$/;

/**
 * The commit to download from and its listing: the folder's own commit once it holds verified files, else the
 * revision's commit now.
 */
async function commitAndListing(
  s: Settings,
  previous: Manifest | null,
): Promise<{ commit: string; listing: RemoteFile[] }> {
  const hub = new HubClient(s);
  const pinned = previous && COMMIT.test(previous.commit) && Object.keys(previous.files).length > 0;
  if (previous && pinned) {
    const listing = await hub.listing(previous.commit).catch((err: unknown) => {
      throw err instanceof HubError && err.code === "NOT_FOUND" ? commitGoneError(s, previous.commit, err) : err;
    });
    return { commit: previous.commit, listing };
  }
  const commit = await hub.commitOf(s.revision);
  const listing = await hub.listing(commit);
  if (previous) checkOneVersion(s, previous, listing);
  return { commit, listing };
}

function commitGoneError(s: Settings, commit: string, cause: HubError): HubError {
  const host = new URL(s.endpoint).host;
  return new HubError(
    "NOT_FOUND",
    `${s.folder} holds files of commit ${commit} of ${s.repo} (revision ${s.revision}), which ${host} no longer ` +
      `has (the branch was rewritten, or HF_ENDPOINT now names another server). Files of another commit would mix ` +
      `two versions in one folder, so nothing was downloaded. Delete the folder to download the current ` +
      `${s.revision} afresh, or load the dtype the folder already holds.`,
    { cause },
  );
}

/**
 * A folder whose commit is unknown (a mirror that reports none): its verified files must still be the ones
 * listed now, or adding files would mix two versions.
 */
function checkOneVersion(s: Settings, manifest: Manifest, listing: readonly RemoteFile[]): void {
  const listed = new Map(listing.map((f) => [f.path, f]));
  const changed = Object.values(manifest.files)
    .filter((f) => {
      const now = listed.get(f.path);
      return !now || !sameContent(f, now);
    })
    .map((f) => f.path);
  if (changed.length === 0) return;
  throw new HubError(
    "INTEGRITY",
    `${s.folder} holds files of ${s.repo} (revision ${s.revision}) that the Hub now lists differently: ` +
      `${changed.join(", ")}. Adding files would mix two versions in one folder, so nothing was downloaded. ` +
      `Delete the folder to download the current ${s.revision} afresh.`,
  );
}

/** A download that failed before writing anything leaves no empty folders behind. */
function removeEmptyFolders(folder: string, cacheDir: string): void {
  for (let dir = folder; dir.startsWith(cacheDir + path.sep); dir = path.dirname(dir)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
  }
}

function progressNotice(option: ProgressOption, text: string): void {
  createDownloadProgress("", [], option).message(text);
}

/**
 * The caller's progress function, its exceptions turned into one HubError that names them. Without this, an
 * exception thrown while bytes arrive would look like a dropped connection and be retried.
 */
function guardProgress(option: ProgressOption): ProgressOption {
  if (typeof option !== "function") return option;
  return (snapshot) => {
    try {
      option(snapshot);
    } catch (err) {
      throw new HubError(
        "INVALID_INPUT",
        `The progress function threw: ${(err as Error)?.message ?? String(err)}. The download stopped there ` +
          `(the next load resumes it); fix the function, or pass progress: false. The exception is this error's cause.`,
        { cause: err },
      );
    }
  };
}

/** Ends the progress display; after a failure, a failing display must not hide the failure's own error. */
function finishProgress(progress: DownloadProgress, finished: boolean): void {
  try {
    progress.finish(finished);
  } catch (err) {
    if (finished) throw err;
  }
}

/** Listed files whose local copy is absent or differs; a local file unknown to the manifest is hashed once. */
async function filesToDownload(
  folder: string,
  files: readonly RemoteFile[],
  manifest: Manifest,
): Promise<RemoteFile[]> {
  const todo: RemoteFile[] = [];
  for (const file of files) {
    const stat = statOrNull(path.join(folder, file.path));
    if (stat?.isFile() && stat.size === file.size) {
      const recorded = manifest.files[file.path];
      if (recorded && sameContent(recorded, file)) continue;
      if ((await contentMismatch(path.join(folder, file.path), file)) === null) {
        manifest.files[file.path] = file;
        continue;
      }
    }
    delete manifest.files[file.path];
    todo.push(file);
  }
  return todo;
}

async function checkFreeSpace(folder: string, files: readonly RemoteFile[]): Promise<void> {
  const needed = files.reduce((sum, f) => sum + f.size - partialBytes(folder, f), 0);
  let free: number;
  try {
    const st = await fs.promises.statfs(folder);
    free = st.bavail * st.bsize;
  } catch {
    // statfs is unsupported on some file systems; the write itself will still report ENOSPC.
    return;
  }
  if (needed > free) throw diskFullError(folder, needed, free);
}
