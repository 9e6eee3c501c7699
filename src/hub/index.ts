/**
 * Model folders from the Hugging Face Hub, and a plain URL download. `resolveModelFolder(idOrFolder, options)`
 * returns a local folder with the files a dtype needs, downloading what is missing. The parts, in the order a
 * download runs through them:
 *
 *   settings.ts   repo id, revision, HF_ENDPOINT / HF_TOKEN (or its file) / HF_HUB_OFFLINE / FLORENCE2_CACHE / HF_HOME,
 *                 the cache folders (models/ in a clone, the user's cache folder as a dependency)
 *   resolve.ts    the entry: a local folder as it is, a complete cache as it is, a verified Hugging Face cache
 *                 snapshot in place, else download.ts
 *   cache.ts      what a folder holds, and its manifest (commit, verified files, the Hub's listing)
 *   hf-cache.ts   the Hugging Face cache (models--org--name/refs, snapshots, blobs), read and checked, never written
 *   file-record.ts  what a file's bytes should be (manifest entry or blob name), for load errors
 *   lock.ts       one process downloads into a folder at a time; the others wait (owner.ts: is its owner gone?)
 *   download.ts   the commit and its listing, the files still to fetch, one after another
 *   client.ts     the Hub's JSON API (@huggingface/hub's modelInfo and listFiles), kept on the endpoint's origin
 *   listing.ts    the listing's entries, checked, and the files a dtype needs from it
 *   transfer.ts   one file: a resumable, bounded transfer into partials.ts's files, verify.ts's check, rename
 *   errors.ts     HubError and the messages for HTTP, network and file-system failures
 *   limits.ts     timeouts, retries, deadlines (HUB_LIMITS; tests shorten them)
 *   download-to-file.ts   downloadToFile, for plain URLs (the walkthrough's sample photo)
 *
 * Import it as "./hub/index", not "./hub": tslab, which runs the notebooks, resolves an import only to a file, never
 * to a folder's index (test/tslab-compat.test.ts checks every import the notebooks reach).
 */
export { FLORENCE2_MODELS, DEFAULT_MODEL, DEFAULT_ENDPOINT, DEFAULT_REVISION } from "./defaults";
export { HubError, type HubErrorCode } from "./errors";
export { MANIFEST_FILE, requiredFiles } from "./cache";
export { LOCK_FILE } from "./lock";
export { PARTIAL_DIR } from "./partials";
export type { RemoteFile } from "./listing";
export { modelCacheFolder, defaultCacheDir, userCacheDir, hfHubCacheDir, type ResolveOptions } from "./settings";
export { resolveModelFolder } from "./resolve";
export { downloadToFile, type DownloadToFileOptions } from "./download-to-file";
