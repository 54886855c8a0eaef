import { connect, type ClientHttp2Session } from "node:http2";
import { createPrivateKey, randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { create } from "@bufbuild/protobuf";
import { SignJWT } from "jose";
import { PushProviderSchema } from "../core/gen/herald/v1/push_pb.js";
import { AppSchema } from "../core/gen/herald/v1/registry_pb.js";
import { silentLogger } from "../core/logger.js";
import { OutboundGuard } from "../core/eventhos/outbound-guard.js";
import { MemoryWorkQueue } from "../core/queue/memory-work-queue.js";
import { MemoryRegistryStore } from "../core/store/memory-registry-store.js";
import { MemoryStatusStore } from "../core/store/memory-status-store.js";
import { MemoryPushProviderStore } from "../core/store/memory-push-provider-store.js";
import { ApnsSender } from "../core/push/apns-sender.js";
import { PushEngine } from "../core/push/push-engine.js";
import { defaultPushConfig } from "../core/push/push-config.js";
import { apnsKey } from "../test/support/push-keys.js";
import { fmt, median, percentile, report, roundsSummary, startNode } from "./support.js";

/**
 * bench:push — pushes/s from Herald's push engine to an APNs stand-in (HTTP/2, its own process,
 * answering 200 at once) over one connection and several, beside a bare node:http2 client sending
 * the same requests (same headers, body and JWT, the same number in flight) over as many
 * connections: the ceiling. Herald's row is the whole path: a job per BENCH_BATCH subscribers taken
 * from the work queue (memory), targets resolved in the registry, a provider token from its cache,
 * the status recorded before and after each push. Enqueue → provider: from the job's enqueue to
 * APNs' 200 for each push (p50/p99 of a round, in which all jobs are queued at once).
 * Rounds are interleaved; ratios are taken within each round.
 */
const pushes = Number(process.env["BENCH_PUSHES"] ?? 20_000);
const batch = Number(process.env["BENCH_BATCH"] ?? 100);
const inFlight = Number(process.env["BENCH_IN_FLIGHT"] ?? 256);
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const manyConnections = Number(process.env["BENCH_CONNECTIONS"] ?? 4);
/** Only the rows whose name contains this (profiling one path). */
const only = process.env["BENCH_ONLY"] ?? "";

const server = await startNode("dist/bench/push-apns-server.js", []);
const url = `http://127.0.0.1:${server.ready["port"] as number}`;
const key = apnsKey();
const TEAM = "TEAM000001";
const KEY_ID = "KEY0000001";
const TOPIC = "com.example.bench";
const token = (i: number) => i.toString(16).padStart(64, "0");

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
}

/** The bare client: `pushes` requests, `inFlight` at a time, spread round robin over `connections`. */
async function bare(connections: number): Promise<Result> {
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: KEY_ID })
    .setIssuer(TEAM)
    .setIssuedAt()
    .sign(createPrivateKey(key.privateKey));
  const sessions: ClientHttp2Session[] = Array.from({ length: connections }, () => connect(url));
  const body = JSON.stringify({ aps: { alert: "Bench" }, msg_id: "1" });
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const req = sessions[i % connections]!.request({
        ":method": "POST",
        ":path": `/3/device/${token(i)}`,
        authorization: `bearer ${jwt}`,
        "apns-id": randomUUID(),
        "apns-topic": TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": String(Math.floor(Date.now() / 1000) + 3600),
        "content-type": "application/json",
      });
      req.on("response", () => undefined);
      req.on("data", () => undefined);
      req.on("error", reject);
      req.on("end", () => {
        latencies.push(performance.now() - t0);
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (next < pushes) await one(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(sessions.map((s) => new Promise<void>((r) => s.close(() => r()))));
  latencies.sort((a, b) => a - b);
  return { perSecond: pushes / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** The registry every Herald round reads (made once: it is only read). */
const registry = new MemoryRegistryStore();
const providers = new MemoryPushProviderStore();
await registry.upsertApp(create(AppSchema, { id: "bench", name: "bench", published: true }));
await providers.set(
  create(PushProviderSchema, {
    appId: "bench",
    config: { case: "apns", value: { teamId: TEAM, keyId: KEY_ID, topic: TOPIC, privateKey: key.privateKey } },
  }),
);
const ksids: string[] = [];
for (let i = 0; i < pushes; i++) {
  ksids.push(
    (await registry.subscribe({ appId: "bench", deviceId: `d${i}`, ufid: "", osType: "iphone", sid: token(i), ksid: String(i + 1) })).ksid,
  );
}

/** Herald's engine: `pushes / batch` jobs queued at once, each to `batch` iphone subscribers. */
async function herald(connections: number): Promise<Result> {
  const status = new MemoryStatusStore({ messageStatusTtlMs: 600_000, messageStatusMax: 1_000_000 });
  const guard = new OutboundGuard("127.0.0.1", undefined, "--push-allow-hosts");
  const queue = new MemoryWorkQueue({ claimIdleMs: 30_000, blockMs: 1000 });
  const sender = new ApnsSender({ productionUrl: url, sandboxUrl: url, connections, timeoutMs: 10_000 }, guard);
  const engine = new PushEngine(
    { queue, registry, providers, status, senders: [sender as never], logger: silentLogger },
    { ...defaultPushConfig, concurrency: inFlight },
  );
  const latencies: number[] = [];
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  engine.onDelivered = (ms) => {
    latencies.push(ms);
    if (++done === pushes) finish();
  };
  engine.start();
  const t0 = performance.now();
  const now = Date.now();
  for (let j = 0; j * batch < pushes; j++) {
    await engine.enqueue({
      r: `req-${j}`,
      m: String(j + 1),
      a: "bench",
      k: ksids.slice(j * batch, (j + 1) * batch),
      b: false,
      o: "",
      t: "",
      c: "Bench",
      p: true,
      e: now + 3_600_000,
      x: "",
      v: "",
      q: Date.now(),
    });
  }
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await engine.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: pushes / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const allRows = [
  { name: "bare node:http2, 1 connection", run: () => bare(1), results: [] as Result[] },
  { name: "Herald push engine, 1 connection", run: () => herald(1), results: [] as Result[] },
  { name: `bare node:http2, ${manyConnections} connections`, run: () => bare(manyConnections), results: [] as Result[] },
  { name: `Herald push engine, ${manyConnections} connections`, run: () => herald(manyConnections), results: [] as Result[] },
];
const rows = allRows.filter((r) => r.name.includes(only));
// A warm-up of each, not counted.
for (const row of rows) await row.run();
for (let r = 0; r < rounds; r++) for (const row of rows) row.results.push(await row.run());
await server.stop();

report(
  `bench:push — ${pushes} pushes a round to an APNs stand-in (HTTP/2 cleartext, its own process), ${inFlight} in flight, ` +
    `Herald jobs of ${batch} subscribers; ${rounds} interleaved rounds: median rate, median of the per-round ratios to the bare client ` +
    `over as many connections; Node ${process.version}, ${cpus().length} cores. Latency: p50/p99 of the round (bare: from the round's ` +
    `start; Herald: enqueue → APNs 200, every job queued at the start).`,
  ["client", "pushes/s", "p50 ms", "p99 ms", "vs bare", "rounds pushes/s"],
  rows.map((row, i) => {
    const ceiling = (rows[i % 2 === 0 ? i : i - 1] ?? row).results;
    const { median: m, ratio, rates } = roundsSummary(row.results, ceiling);
    return [
      row.name,
      fmt(m.perSecond),
      fmt(median(row.results.map((x) => x.p50)), 1),
      fmt(median(row.results.map((x) => x.p99)), 1),
      ratio,
      rates,
    ];
  }),
);
