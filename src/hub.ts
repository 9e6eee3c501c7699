/**
 * PLACEHOLDER owned by the Hub-download work: resolves a model folder or Hub model id to a local folder.
 * Only local folders work until the download code lands here.
 */
import * as fs from "node:fs";

export interface ResolveOptions {
  cacheDir?: string;
  revision?: string;
}

export async function resolveModelFolder(folderOrId: string, _options: ResolveOptions = {}): Promise<string> {
  if (fs.existsSync(folderOrId) && fs.statSync(folderOrId).isDirectory()) return folderOrId;
  throw new Error(`"${folderOrId}" is not a model folder (downloading by model id is not available yet).`);
}
