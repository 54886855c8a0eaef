import { readFileSync } from "node:fs";
import { basename } from "node:path";

/**
 * The top of V8 CPU profiles (`node --cpu-prof`, e.g. written by a bench run with BENCH_PROFILE):
 * self time per function and per package / folder, as shares of the profile's sampled time, one
 * table per file. `node dist/bench/profile-top.js [--top N] [--between FROM,TO] FILE...`: with
 * `--between`, only the samples taken between two readings of the monotonic clock in µs
 * (`process.hrtime.bigint() / 1000n`, the clock V8's profiles are stamped with), as a bench prints
 * them around the step it measures.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
const betweenAt = args.indexOf("--between");
const [from, to] = betweenAt >= 0 ? args.splice(betweenAt, 2)[1]!.split(",").map(Number) : [-Infinity, Infinity];

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Time per node from the samples and their deltas (hitCount alone ignores uneven intervals).
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= from! && at <= to!) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const perFunction = new Map<string, number>();
  const perPlace = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    const where = place(url);
    const fn = `${functionName || "(anonymous)"} ${where === url ? where : shortUrl(url)}${url ? `:${lineNumber + 1}` : ""}`;
    perFunction.set(fn, (perFunction.get(fn) ?? 0) + us);
    perPlace.set(where, (perPlace.get(where) ?? 0) + us);
  }
  const busy = [...perFunction.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `\n${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy; shares of busy time\n`,
  );
  const show = (title: string, entries: Map<string, number>) => {
    process.stdout.write(`\n| ${title} | self ms | share |\n|---|--:|--:|\n`);
    for (const [k, us] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`| ${k} | ${(us / 1000).toFixed(0)} | ${((100 * us) / busy).toFixed(1)}% |\n`);
    }
  };
  show("package or folder", perPlace);
  show("function", perFunction);
}

/** A package name (node_modules/…), a node: builtin, or the repo folder of a file. */
function place(url: string): string {
  if (!url) return "(native / V8)";
  if (url.startsWith("node:")) return "node: builtins";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.+)\/[^/]+$/.exec(url);
  return own ? own[1]! : url;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.+)$/.exec(url);
  return own ? own[1]! : url;
}
