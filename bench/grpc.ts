import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { RedisServer } from "../test/support/redis-server.js";
import { authorizationCost } from "./authorization-cost.js";
import { rawClients, rejection, unary } from "../test/support/grpc-client.js";
import {
  cpuMs,
  fmt,
  grpcFrameFile,
  h2load,
  logPercentiles,
  median,
  medianRatio,
  ProcGroup,
  report,
  requireH2load,
  roundsSummary,
  type H2loadResult,
  type Proc,
} from "./support.js";

/**
 * bench:grpc — unary SendEvent calls/s through Herald against a bare grpc-js echo server, in one
 * run on this machine. Each server runs in its own process; h2load drives it. The servers are
 * measured in turn, `BENCH_ROUNDS` times over: the machine's speed drifts, so a ratio is taken
 * within each round (against the echo of the same round) and the table shows the median ratio, with
 * the rate of the median round.
 *
 * Herald runs twice in each mode: as today (access control off) and with access control on, every
 * call carrying a publish API key (`authorization: Bearer hak_…`, an h2load header, as any gRPC
 * client sends it). "key / no key" is the median of the per-round ratios of the two; within a
 * round the two are measured back to back, in turns, so neither always goes first.
 *
 * The key's cost has two parts, measured apart. Carrying the header: HTTP/2 encoders (nghttp2,
 * which h2load and grpc-js clients use) never index `authorization` in HPACK, so its ~90 bytes
 * travel and are decoded on every call, whoever checks them; the "header unchecked" rows send the
 * same header to Herald with access control off. Checking it: the keyed row against the unchecked
 * one. The issue's 95% is about the check (a cached key, no slow hash, no Redis round trip).
 *
 * Herald embedded also runs --no-metrics: "herald embedded" against it is what the metrics cost.
 *
 * The rate moves with whatever else the machine runs; the CPU time the server process spends per
 * call (from /proc, Linux) moves much less, so it is shown too.
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 60_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 4);
const streams = Number(process.env["BENCH_STREAMS"] ?? 32);
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const request = {
  eventId: "1",
  subscribers: [{ ref: { case: "ksid" as const, value: "xxxx" } }],
  namePairs: [{ name: "lastname", content: "Smith" }],
  content: { mimeType: "text/plain" },
};
const body = grpcFrameFile(request);
const probe = { eventId: "1", subscribers: [{ ksid: "xxxx" }] };
/** Event "1" of the seed (examples/seed.yaml) belongs to this app: the key may publish to it only. */
const seedApp = "demo";
const logDir = mkdtempSync(join(tmpdir(), "herald-bench-grpc-"));

interface Server {
  name: string;
  port: number;
  pid: number | undefined;
  herald: boolean;
  /** The API key every call carries; undefined: access control is off. */
  key: string | undefined;
  /** What every call carries in `authorization`: the key, or a well-formed key nobody checks. */
  headers: string[];
  results: Measured[];
}

interface Measured extends H2loadResult {
  /** Calls Herald really published (from its msg id counter); h2load sees only HTTP status. */
  published: number | undefined;
  /** Latency percentiles, ms (h2load's log of every call). */
  p50: number;
  p99: number;
  /** CPU time (user + system) of the server process per call, µs; NaN where /proc is not there. */
  cpuPerCall: number;
}

const procs = new ProcGroup();
const url = (port: number) => `http://127.0.0.1:${port}/herald.v1.HubService/SendEvent`;
const keyHeaders = (key: string | undefined) => (key === undefined ? [] : [`authorization: Bearer ${key}`]);

/**
 * A publish key for the seed's app, created with the admin key over gRPC (the process runs apart,
 * as in production; `herald keys create` does the same).
 */
async function createKey(port: number, adminKey: string): Promise<string> {
  const admin = rawClients(port, adminKey);
  try {
    const { secret } = await unary<{ secret: string }>(admin.registry, "createApiKey", {
      name: "bench:grpc",
      roles: ["ROLE_PUBLISH"],
      appIds: [seedApp],
    });
    return secret;
  } finally {
    admin.close();
  }
}

/** A string of an API key's shape and length that no server knows. */
const uncheckedKey = () => `hak_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;

async function start(name: string, proc: Promise<Proc>, herald: boolean, adminKey?: string, unchecked?: string): Promise<Server> {
  const p = await proc; // in `procs` already: stopped at the end, also if it fails below
  const port = (p.ready["grpcPort"] ?? p.ready["port"]) as number;
  const key = adminKey === undefined ? undefined : await createKey(port, adminKey);
  const grpc = rawClients(port, key);
  try {
    await unary(grpc.hub, "sendEvent", probe); // it works before it is measured
  } finally {
    grpc.close();
  }
  if (key !== undefined) {
    // Access control is really on: the same call without the key is refused.
    const open = rawClients(port);
    try {
      const err = await rejection(unary(open.hub, "sendEvent", probe));
      if (err.code !== 16) throw new Error(`${name}: a call without a key got ${err.code} (${err.details}), not UNAUTHENTICATED`);
    } finally {
      open.close();
    }
  }
  // Warm up (JIT, connections) before the first round.
  const headers = keyHeaders(key ?? unchecked);
  await h2load(url(port), body, { requests: Math.ceil(requests / 10), clients, streams, headers });
  return { name, port, pid: p.proc.pid, herald, key, headers, results: [] };
}

async function measure(s: Server, round: number): Promise<void> {
  const grpc = rawClients(s.port, s.key);
  const logFile = join(logDir, `${s.name.replace(/\W+/g, "-")}-${round}.log`);
  try {
    const before = s.herald ? await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe) : undefined;
    const cpuBefore = cpuMs(s.pid);
    const result = await h2load(url(s.port), body, { requests, clients, streams, logFile, headers: s.headers });
    const cpuPerCall = ((cpuMs(s.pid) - cpuBefore) * 1000) / result.requests;
    const after = s.herald ? await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe) : undefined;
    const published = before && after ? Number(after.msgId) - Number(before.msgId) - 1 : undefined;
    const [p50, p99] = logPercentiles(logFile, [50, 99]) as [number, number];
    process.stderr.write(
      `${s.name}: ${fmt(result.perSecond)} calls/s, ${fmt(cpuPerCall)} µs CPU/call${published === undefined ? "" : `, ${published} published`}\n`,
    );
    // gRPC errors travel in HTTP 200 responses: only the msg id counter shows that calls were refused.
    if (published !== undefined && published !== result.requests) {
      process.stderr.write(`${s.name}: only ${published} of ${result.requests} calls published\n`);
    }
    s.results.push({ ...result, published, p50, p99, cpuPerCall });
  } finally {
    grpc.close();
    rmSync(logFile, { force: true });
  }
}

await requireH2load();
// One Redis for each Herald: neither sees the other's writes.
const redisPlain = await RedisServer.start({ durable: false });
let redisKeyed: RedisServer | undefined;
let redisUnchecked: RedisServer | undefined;
const servers: Server[] = [];
try {
  redisKeyed = await RedisServer.start({ durable: false });
  redisUnchecked = await RedisServer.start({ durable: false });
  const adminKey = () => randomBytes(24).toString("base64url");
  const keyed = (args: string[]) => {
    const admin = adminKey();
    return { proc: procs.herald(args, { HERALD_ADMIN_KEY: admin }), admin };
  };
  servers.push(await start("grpc-js echo (ceiling)", procs.node("dist/bench/echo-server.js", []), false));
  servers.push(await start("herald's grpc server, no-op handler", procs.node("dist/bench/bridge-echo.js", []), false));
  servers.push(await start("herald embedded", procs.herald([]), true));
  const embeddedKeyed = keyed([]);
  servers.push(await start("herald embedded, API key", embeddedKeyed.proc, true, embeddedKeyed.admin));
  servers.push(await start("herald + redis", procs.herald(["--redis-url", redisPlain.url]), true));
  const redisWithKey = keyed(["--redis-url", redisKeyed.url]);
  servers.push(await start("herald + redis, API key", redisWithKey.proc, true, redisWithKey.admin));
  servers.push(await start("herald embedded, --no-metrics", procs.herald(["--no-metrics"]), true));
  servers.push(await start("herald embedded, header unchecked", procs.herald([]), true, undefined, uncheckedKey()));
  servers.push(
    await start("herald + redis, header unchecked", procs.herald(["--redis-url", redisUnchecked.url]), true, undefined, uncheckedKey()),
  );

  /**
   * Each row compared with the row that differs from it in one thing: a keyed row with the same
   * server receiving the same header unchecked (what the check costs), that one with the server
   * receiving no header (what carrying it costs), and Herald as it runs (metrics on) with the same
   * server --no-metrics.
   */
  const pairs = new Map<Server, Server>([
    [servers[3]!, servers[7]!],
    [servers[7]!, servers[2]!],
    [servers[5]!, servers[8]!],
    [servers[8]!, servers[4]!],
    [servers[2]!, servers[6]!],
  ]);
  const pairTargets = new Map<Server, string>([
    [servers[3]!, ">= 95%"],
    [servers[5]!, ">= 95%"],
    [servers[7]!, "(transport)"],
    [servers[8]!, "(transport)"],
    [servers[2]!, "within noise"],
  ]);
  for (let r = 0; r < rounds; r++) {
    await measure(servers[0]!, r);
    await measure(servers[1]!, r);
    // Each group measured back to back, its order reversed every other round, so that a drift
    // within the round favours none of them.
    for (const group of [
      [servers[6]!, servers[2]!, servers[7]!, servers[3]!],
      [servers[4]!, servers[8]!, servers[5]!],
    ]) {
      for (const s of r % 2 === 0 ? group : [...group].reverse()) await measure(s, r);
    }
  }

  const echo = servers[0]!.results;
  const targets = ["", "", ">= 70%", ">= 70%", ">= 50%", ">= 50%", "", "", ""];
  report(
    `bench:grpc — unary SendEvent via h2load, ${requests} calls, ${clients} connections x ${streams} streams, ` +
      `${rounds} interleaved rounds: median rate (and its round's latencies), median of the per-round ratios; ` +
      `"API key": access control on, every call with authorization: Bearer hak_… (publish role); ` +
      `"vs pair": a keyed row against the same server receiving the same header unchecked (the check), that one against no header ` +
      `(carrying it: HTTP/2 never indexes authorization), "herald embedded" (metrics on, as it runs) against --no-metrics; ` +
      `CPU µs/call: the server process's user + system time per call, median of the rounds; ` +
      `Node ${process.version}, ${cpus().length} cores`,
    [
      "server",
      "calls/s",
      "p50 ms",
      "p99 ms",
      "mean ms",
      "CPU µs/call",
      "vs echo",
      "target",
      "vs pair",
      "pair target",
      "rounds calls/s",
      "published",
    ],
    servers.map((s, i) => {
      const { median: m, ratio, rates } = roundsSummary(s.results, echo);
      const without = pairs.get(s);
      const published = s.results.every((x) => x.published === undefined)
        ? "-"
        : `${s.results.reduce((n, x) => n + (x.published ?? 0), 0)}/${s.results.reduce((n, x) => n + x.requests, 0)}`;
      return [
        s.name,
        fmt(m.perSecond),
        fmt(m.p50, 2),
        fmt(m.p99, 2),
        fmt(m.mean, 2),
        fmt(median(s.results.map((x) => x.cpuPerCall))),
        ratio,
        targets[i]!,
        without ? `${fmt(100 * medianRatio(s.results, without.results))}%` : "",
        pairTargets.get(s) ?? "",
        rates,
        published,
      ];
    }),
  );
  // The per-round ratios behind "vs pair", and the same for the latencies.
  const lines = [...pairs].map(([withKey, without]) => {
    const per = (f: (m: Measured) => number) => withKey.results.map((m, r) => f(m) / f(without.results[r]!));
    const show = (xs: number[]) => `${xs.map((x) => x.toFixed(3)).join(" ")} (median ${median(xs).toFixed(3)})`;
    return (
      `${withKey.name} / ${without.name}: calls/s ${show(per((m) => m.perSecond))}; ` +
      `p50 ${show(per((m) => m.p50))}; p99 ${show(per((m) => m.p99))}; CPU/call ${show(per((m) => m.cpuPerCall))}`
    );
  });
  process.stdout.write(`\neach row / its pair, per round:\n${lines.map((l) => `- ${l}`).join("\n")}\n`);
  const check = await authorizationCost(rounds);
  const embeddedCpu = median(servers[2]!.results.map((x) => x.cpuPerCall));
  process.stdout.write(
    `\nthe check alone, in process (authorization layer around a no-op SendEvent, fresh context and header per call): ` +
      `${fmt(check.off)} ns/call off, ${fmt(check.on)} ns/call with a cached API key: ` +
      `${fmt(check.on - check.off)} ns, ${fmt((100 * (check.on - check.off)) / 1000 / embeddedCpu, 1)}% of herald embedded's ${fmt(embeddedCpu)} µs CPU/call\n`,
  );
} finally {
  await procs.stop();
  await redisPlain.destroy();
  await redisKeyed?.destroy();
  await redisUnchecked?.destroy();
  rmSync(logDir, { recursive: true, force: true });
}
