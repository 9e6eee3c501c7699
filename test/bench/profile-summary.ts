/**
 * Summarizes a V8 CPU profile (`npm run bench -- --profile DIR` writes one per child process of our side): self
 * time per function, heaviest first, so the results can say which code holds the time outside session.run.
 *
 *   npx tsx test/bench/profile-summary.ts bench-models/profiles/per-task-ours-*.cpuprofile [--top 25]
 */
import * as fs from "node:fs";
import * as path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function (same name and location merged), from the profile's samples and their time deltas. */
export function selfTimes(profile: CpuProfile, root = process.cwd()): FunctionTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, FunctionTime>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    all += ms;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    const file = frame.url.startsWith("file://") ? path.relative(root, new URL(frame.url).pathname) : frame.url;
    const where = file ? `${file}:${frame.lineNumber + 1}` : "";
    const name = frame.functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const entry = totals.get(key) ?? { name, where, selfMs: 0, share: 0 };
    entry.selfMs += ms;
    totals.set(key, entry);
  });
  const list = [...totals.values()].sort((a, b) => b.selfMs - a.selfMs);
  for (const entry of list) entry.share = all > 0 ? entry.selfMs / all : 0;
  return list;
}

function main(argv: readonly string[]): void {
  const topIndex = argv.indexOf("--top");
  const top = topIndex >= 0 ? Number(argv[topIndex + 1]) : 25;
  const files = argv.filter((a, i) => a !== "--top" && i !== topIndex + 1);
  if (files.length === 0 || !Number.isInteger(top) || top <= 0) {
    process.stderr.write("Usage: npx tsx test/bench/profile-summary.ts FILE.cpuprofile [--top N]\n");
    process.exitCode = 2;
    return;
  }
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    process.stdout.write(`${file}: ${seconds.toFixed(1)} s profiled\n\n| self time | share | function | where |\n| --- | --- | --- | --- |\n`);
    for (const f of selfTimes(profile).slice(0, top)) {
      process.stdout.write(`| ${f.selfMs.toFixed(0)} ms | ${(f.share * 100).toFixed(1)} % | ${f.name} | ${f.where} |\n`);
    }
    process.stdout.write("\n");
  }
}

if (require.main === module) main(process.argv.slice(2));
