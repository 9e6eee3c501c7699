/**
 * `npm start -- --images ... --shard K/N`: one of N machines' share of a photo collection. A photo's shard is a hash
 * of its path relative to the folder it was listed from (or its path as given, for a file named on its own), so the
 * split needs no coordination: every copy of the command computes the same one, whatever order the files come in,
 * and a photo added later goes to one shard without moving the others. Each shard writes its own results file
 * (`results.jsonl` -> `results.shard-2-of-4.jsonl`), resumed like an unsharded one; the shards' files are disjoint
 * and, joined, hold what one unsharded run writes.
 *
 * A Kubernetes Indexed Job gives each pod `JOB_COMPLETION_INDEX` (0 to completions - 1) but not the Job's
 * completions (no environment variable carries them), so the count comes from `--shards N`.
 */
import * as crypto from "node:crypto";
import * as path from "node:path";

/** The environment variable a Kubernetes Indexed Job sets in each pod: its index, from 0. */
export const JOB_INDEX_ENV = "JOB_COMPLETION_INDEX";

export interface Shard {
  /** From 1 to count. */
  index: number;
  count: number;
  /** Where the index came from, for messages. */
  from: "--shard" | typeof JOB_INDEX_ENV;
}

/** A wrong --shard, --shards or JOB_COMPLETION_INDEX: the message says what was wrong and what to give. */
export class ShardError extends Error {
  override name = "ShardError";
}

const WHOLE = /^\d+$/;

function parseShardOption(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) {
    throw new ShardError(`Expected --shard K/N with whole numbers, e.g. --shard 2/4 (the second of 4 shards), but received "${text}".`);
  }
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || !Number.isSafeInteger(count)) throw new ShardError(`Expected at least 1 shard in --shard K/N but received "${text}".`);
  if (index < 1 || index > count) {
    throw new ShardError(
      `Expected --shard K/N with K from 1 to N but received "${text}": shards are numbered 1 to ${count}` +
        `${index === 0 ? " (JOB_COMPLETION_INDEX counts from 0; give it with --shards N instead)" : ""}.`,
    );
  }
  return { index, count, from: "--shard" };
}

function parseCount(text: string): number {
  const count = Number(text);
  if (!WHOLE.test(text) || !Number.isSafeInteger(count) || count < 1) {
    throw new ShardError(`Expected a positive whole number of shards for --shards (the Job's completions) but received "${text}".`);
  }
  return count;
}

/**
 * The shard of this run from `--shard`, `--shards` and the environment; undefined for an unsharded run. Both ways
 * may be given (the command line written out in a Job's manifest) as long as they agree.
 */
export function resolveShard(shardText: string | undefined, shardsText: string | undefined, env: NodeJS.ProcessEnv): Shard | undefined {
  const fromOption = shardText === undefined ? undefined : parseShardOption(shardText);
  const count = shardsText === undefined ? undefined : parseCount(shardsText);
  if (fromOption && count !== undefined && count !== fromOption.count) {
    throw new ShardError(`--shard ${shardText} and --shards ${shardsText} disagree on the number of shards: give one of them.`);
  }
  const indexText = env[JOB_INDEX_ENV];
  if (indexText === undefined || indexText === "") {
    if (count !== undefined && !fromOption) {
      throw new ShardError(
        `--shards ${count} takes this copy's index from ${JOB_INDEX_ENV} (set by a Kubernetes Indexed Job), which is not set: ` +
          `give --shard K/N instead.`,
      );
    }
    return fromOption;
  }
  if (!WHOLE.test(indexText)) {
    throw new ShardError(`Expected ${JOB_INDEX_ENV} to be a whole number (0, 1, ...) but it is "${indexText}".`);
  }
  const total = count ?? fromOption?.count;
  if (total === undefined) {
    throw new ShardError(
      `${JOB_INDEX_ENV} is set (${indexText}: a Kubernetes Indexed Job), but not the number of shards: Kubernetes does not ` +
        `pass the Job's completions to its pods. Give --shards N with the Job's completions, or --shard K/N.`,
    );
  }
  const index = Number(indexText) + 1;
  if (index > total) {
    throw new ShardError(
      `${JOB_INDEX_ENV} is ${indexText}, but ${total} shards have the indexes 0 to ${total - 1}: give --shards the Job's completions.`,
    );
  }
  if (fromOption && fromOption.index !== index) {
    throw new ShardError(
      `--shard ${shardText} and ${JOB_INDEX_ENV}=${indexText} (shard ${index}/${total}) disagree: leave out --shard in a ` +
        `Kubernetes Indexed Job (give --shards ${total}), or unset ${JOB_INDEX_ENV}.`,
    );
  }
  return { index, count: total, from: fromOption ? "--shard" : JOB_INDEX_ENV };
}

/** The shard (1 to count) a photo belongs to, from its key (its path relative to the folder it was listed from). */
export function shardOfKey(key: string, count: number): number {
  // 48 bits of sha256: uniform over any count, the same in every process and on every platform.
  const digest = crypto.createHash("sha256").update(key.split(path.sep).join("/"), "utf8").digest();
  return (digest.readUIntBE(0, 6) % count) + 1;
}

/** `results.jsonl` -> `results.shard-2-of-4.jsonl`: shards never write to one file, even on a shared volume. */
export function shardResultsFile(file: string, shard: Shard): string {
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}.shard-${shard.index}-of-${shard.count}${ext}`;
}
