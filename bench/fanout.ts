import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import { cpus } from "node:os";
import { RedisServer } from "../test/support/redis-server.js";
import { RedisCluster } from "../test/support/redis-cluster.js";
import { appSlot } from "../core/redis/keys.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { SendEventBatchRequestSchema, WatchEventsRequestSchema, WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";
import { rawClients, unary } from "../test/support/grpc-client.js";
import {
  cpuMs,
  fmt,
  grpcFrameFile,
  h2load,
  percentile,
  report,
  requireH2load,
  startHeraldProcess,
  startNode,
  type Proc,
} from "./support.js";

/**
 * bench:fanout — in one run on one Redis: the raw ioredis pub/sub rate (the limit), then Herald end
 * to end (SendEvent on two instances → WatchEvents on both) with 1 and with 100 watchers, and the
 * latency from the core accepting an event to a watcher receiving it. Then, in the same run, the
 * same rows on a real Redis Cluster (3 masters + 3 replicas; the app on one shard, sharded pub/sub),
 * with --redis-wait-replicas 1 (the durability knob), and on one Redis with --registry-cache-max 0
 * (the registry near cache off, as on a Cluster): what each costs beside its plain row.
 */
const events = Number(process.env["BENCH_EVENTS"] ?? 20_000);
const events100 = Number(process.env["BENCH_EVENTS_100"] ?? 4_000);
const payloadBytes = 160; // about the size of the Event envelope below
/** Events a SendEventBatch call carries on the batch rows. */
const batchSize = Number(process.env["BENCH_BATCH"] ?? 64);

interface Row {
  name: string;
  events: number;
  watchers: number;
  seconds: number;
  latencies: number[];
  /** CPU time of the redis-server carrying the app (the one Redis, or the app's shard) during the row (ms). */
  redisCpuMs?: number;
}

/** A row, with the CPU time `redisPid` (the Redis carrying the app) used meanwhile. */
async function measured(redisPid: number | undefined, row: () => Promise<Row>): Promise<Row> {
  const before = cpuMs(redisPid);
  const r = await row();
  return { ...r, redisCpuMs: cpuMs(redisPid) - before };
}

const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
/** BENCH_CLUSTER=0: the one-Redis rows only (no Cluster is started). */
const withCluster = process.env["BENCH_CLUSTER"] !== "0";

/** The row of median events/s among `rounds` runs of `row`. */
function medianRow(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.events / a.seconds - b.events / b.seconds);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Publishes with ioredis, `window` in flight, and receives on another connection. */
async function raw(url: string, n: number, window = 256, paced = false): Promise<Row> {
  const pub = new Redis(url);
  const sub = new Redis(url);
  await sub.subscribe("raw");
  const latencies: number[] = [];
  let received = 0;
  let t0 = 0;
  const done = new Promise<number>((resolve) =>
    sub.on("messageBuffer", (_c: Buffer, m: Buffer) => {
      latencies.push(performance.now() - m.readDoubleLE(0));
      if (++received === n) resolve(performance.now());
    }),
  );
  const payload = Buffer.alloc(payloadBytes);
  t0 = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      const m = Buffer.from(payload);
      m.writeDoubleLE(performance.now(), 0);
      await pub.publish("raw", m);
    }
  };
  if (paced) {
    // `window` messages every 10 ms, for a steady rate well below the limit.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (let i = 0; i < window && sent < n; i++, sent++) {
          const m = Buffer.from(payload);
          m.writeDoubleLE(performance.now(), 0);
          void pub.publish("raw", m);
        }
        if (sent >= n) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
  } else {
    await Promise.all(Array.from({ length: window }, worker));
  }
  const end = await done;
  pub.disconnect();
  sub.disconnect();
  const name = paced ? "raw ioredis pub/sub, 1,000/s" : "raw ioredis pub/sub (limit)";
  return { name, events: n, watchers: 1, seconds: (end - t0) / 1000, latencies };
}

/** A WatchEvents client that counts messages and decodes one in `sample` for latency. */
const WatchClient = grpc.makeGenericClientConstructor(
  {
    watchEvents: {
      path: "/herald.v1.HubService/WatchEvents",
      requestStream: false,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  "HubService",
);

/**
 * Herald end to end: `n` events sent over both instances (SendEvent, or SendEventBatch with `batch`
 * events a call), received by `watchers` streams spread over both.
 */
async function herald(procs: Proc[], watchers: number, n: number, rps?: number, label = "", batch = 1): Promise<Row> {
  const ports = procs.map((p) => p.ready["grpcPort"] as number);
  const clients = ports.map((port) => new WatchClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  // Watchers resume after the latest offset: whenever each stream registers, it misses nothing.
  const probe = rawClients(ports[0]!);
  const { offset } = await unary<{ offset: string }>(probe.hub, "sendEvent", { eventId: "1" });
  probe.close();
  const watchRequest = Buffer.from(
    toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, { appId: "demo", resumeAfter: BigInt(offset) })),
  );
  const expected = Math.ceil(n / ports.length / batch) * ports.length * batch * watchers;
  const latencies: number[] = [];
  let received = 0;
  let resolveDone!: (t: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const calls = Array.from({ length: watchers }, (_, i) => {
    const call = (clients[i % clients.length] as any).watchEvents(watchRequest) as grpc.ClientReadableStream<Buffer>;
    call.on("data", (b: Buffer) => {
      if (received % 97 === 0) {
        const t = fromBinary(WatchEventsResponseSchema, b).event?.time;
        if (t) latencies.push(Date.now() - (Number(t.seconds) * 1000 + t.nanos / 1e6));
      }
      if (++received === expected) resolveDone(performance.now());
    });
    call.on("error", (err) => {
      if ((err as grpc.ServiceError).code !== grpc.status.CANCELLED) process.stderr.write(`watcher ended: ${err.message}\n`);
    });
    return call;
  });
  const body =
    batch > 1
      ? grpcFrameFile({ appId: "demo", events: Array.from({ length: batch }, () => ({ eventId: "1" })) }, SendEventBatchRequestSchema)
      : grpcFrameFile({ eventId: "1" });
  const method = batch > 1 ? "SendEventBatch" : "SendEvent";
  const urls = ports.map((p) => `http://127.0.0.1:${p}/herald.v1.HubService/${method}`);
  const t0 = performance.now();
  // Calls per instance; a batch call carries `batch` events (a few calls in flight: each is many events).
  const per = Math.ceil(n / urls.length / batch);
  const loads = await Promise.all(
    urls.map((u) =>
      h2load(
        u,
        body,
        rps
          ? { requests: per, clients: 1, streams: 1, rps: rps / urls.length }
          : batch > 1
            ? { requests: per, clients: 1, streams: 8 }
            : { requests: per, clients: 2, streams: 32 },
      ),
    ),
  );
  const failed = loads.reduce((s, l) => s + (l.requests - l.succeeded), 0);
  const end = await Promise.race([done, new Promise<number>((r) => setTimeout(() => r(NaN), 120_000))]);
  for (const c of calls) c.cancel();
  for (const c of clients) c.close();
  if (Number.isNaN(end) || failed > 0) throw new Error(`received ${received} of ${expected} deliveries (${failed} sends failed)`);
  const name =
    `herald${label}${batch > 1 ? `, SendEventBatch x${batch}` : ""}, ${watchers} watcher${watchers > 1 ? "s" : ""} over 2 instances` +
    `${rps ? `, ${rps.toLocaleString("en")}/s` : ""}`;
  return { name, events: per * urls.length * batch, watchers, seconds: (end - t0) / 1000, latencies };
}

/**
 * The same load (h2load, two servers, same connections and streams) against two bare grpc-js echo
 * servers: as many unary calls/s as this machine gives any server, before Redis or any delivery.
 * Herald's end-to-end rate cannot pass it, since every event is one such call.
 */
async function unaryCeiling(n: number): Promise<Row> {
  const echoes = [await startNode("dist/bench/echo-server.js", []), await startNode("dist/bench/echo-server.js", [])];
  try {
    const body = grpcFrameFile({ eventId: "1" });
    const urls = echoes.map((e) => `http://127.0.0.1:${e.ready["port"] as number}/herald.v1.HubService/SendEvent`);
    const per = Math.ceil(n / urls.length);
    await Promise.all(urls.map((u) => h2load(u, body, { requests: Math.ceil(per / 10), clients: 2, streams: 32 })));
    const t0 = performance.now();
    const loads = await Promise.all(urls.map((u) => h2load(u, body, { requests: per, clients: 2, streams: 32 })));
    const seconds = (performance.now() - t0) / 1000;
    if (loads.some((l) => l.succeeded !== l.requests)) throw new Error("echo calls failed");
    return { name: "grpc-js echo x2, same load, no Redis (unary ceiling)", events: per * urls.length, watchers: 0, seconds, latencies: [] };
  } finally {
    await Promise.all(echoes.map((e) => e.stop()));
  }
}

await requireH2load();
const redis = await RedisServer.start({ durable: false });
const procs: Proc[] = [];
let cluster: RedisCluster | undefined;
try {
  const rawRow = await measured(redis.pid, () => raw(redis.url, events));
  process.stderr.write(`raw: ${fmt(rawRow.events / rawRow.seconds)} msgs/s\n`);
  const ceiling = await unaryCeiling(events);
  process.stderr.write(`unary ceiling: ${fmt(ceiling.events / ceiling.seconds)} calls/s\n`);
  cluster = withCluster ? await RedisCluster.start() : undefined;
  const nodes = cluster?.nodes.join(",") ?? "";
  // Redis Cluster: 3 masters + 3 replicas; app "demo" lives on one shard, whose CPU the rows read.
  const shard = cluster ? await cluster.ownerOf(appSlot("demo")) : undefined;
  const shardPid = cluster?.servers.find((s) => s.port === shard?.port)?.pid;
  const q = ["--watch-queue-limit", "100000"];
  /** Two Herald instances per configuration, measured in turn, round after round, after a warm-up. */
  const groups: Array<{ label: string; args: string[]; pid: number | undefined; procs: Proc[] }> = [
    { label: "", args: ["--redis-url", redis.url, ...q], pid: redis.pid, procs: [] },
    // Without metrics: what the metrics cost.
    { label: " --no-metrics", args: ["--redis-url", redis.url, ...q, "--no-metrics"], pid: redis.pid, procs: [] },
    // The registry near cache off on one Redis (as it is on a Cluster): every send reads the registry.
    { label: " --registry-cache-max 0", args: ["--redis-url", redis.url, ...q, "--registry-cache-max", "0"], pid: redis.pid, procs: [] },
    { label: " on Redis Cluster", args: ["--redis-cluster", nodes, ...q], pid: shardPid, procs: [] },
    {
      label: " on Redis Cluster --redis-wait-replicas 1",
      args: ["--redis-cluster", nodes, ...q, "--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "2000"],
      pid: shardPid,
      procs: [],
    },
  ].filter((g) => withCluster || !g.label.includes("Cluster"));
  for (const g of groups) {
    for (let i = 0; i < 2; i++) g.procs.push(await startHeraldProcess(g.args));
    procs.push(...g.procs);
    await herald(g.procs, 1, Math.ceil(events / 5), undefined, g.label); // warm-up, not reported
  }
  await herald(groups[0]!.procs, 1, Math.ceil(events / 5), undefined, "", batchSize); // warm-up, not reported
  const oneRuns = groups.map(() => [] as Row[]);
  const batchRuns: Row[] = [];
  const hundredGroups = withCluster ? [0, 1, 3] : [0, 1];
  const hundredRuns = hundredGroups.map(() => [] as Row[]);
  for (let r = 0; r < rounds; r++) {
    for (const [i, g] of groups.entries()) {
      const row = await measured(g.pid, () => herald(g.procs, 1, events, undefined, g.label));
      oneRuns[i]!.push(row);
      process.stderr.write(`round ${r + 1}: herald${g.label} 1 watcher: ${fmt(row.events / row.seconds)} events/s\n`);
      if (i === 0) {
        // The batch RPC beside unary, on the same instances in the same round.
        const batched = await measured(g.pid, () => herald(g.procs, 1, events, undefined, g.label, batchSize));
        batchRuns.push(batched);
        process.stderr.write(
          `round ${r + 1}: herald SendEventBatch x${batchSize} 1 watcher: ${fmt(batched.events / batched.seconds)} events/s\n`,
        );
      }
    }
    for (const [j, i] of hundredGroups.entries()) {
      const g = groups[i]!;
      const row = await measured(g.pid, () => herald(g.procs, 100, events100, undefined, g.label));
      hundredRuns[j]!.push(row);
      process.stderr.write(`round ${r + 1}: herald${g.label} 100 watchers: ${fmt(row.events / row.seconds)} events/s\n`);
    }
  }
  const oneRows = oneRuns.map(medianRow);
  oneRows.splice(1, 0, medianRow(batchRuns));
  const hundredRows = hundredRuns.map(medianRow);
  // Latency is read at a steady 1,000 events/s; at saturation it would only measure queueing.
  const rawPaced = await raw(redis.url, 5_000, 10, true);
  const pacedRows: Row[] = [];
  for (const i of withCluster ? [0, 3, 4] : [0]) pacedRows.push(await herald(groups[i]!.procs, 1, 5_000, 1_000, groups[i]!.label));

  const limit = rawRow.events / rawRow.seconds;
  const rows = [rawRow, ceiling, ...oneRows, ...hundredRows, rawPaced, ...pacedRows].map((r) => {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const rate = r.events / r.seconds;
    return [
      r.name,
      r.events,
      fmt(rate),
      r.watchers === 0 ? "-" : fmt(rate * r.watchers),
      `${fmt((100 * rate) / limit)}%`,
      r.watchers === 0 ? "-" : `${fmt((100 * rate * r.watchers) / limit)}%`,
      `${fmt((100 * rate) / (ceiling.events / ceiling.seconds))}%`,
      fmt(percentile(sorted, 50), 1),
      fmt(percentile(sorted, 99), 1),
      r.redisCpuMs === undefined ? "-" : fmt((1000 * r.redisCpuMs) / r.events, 1),
    ];
  });
  report(
    `bench:fanout — one Redis, then a Redis Cluster (3 masters + 3 replicas, the app on one shard), ${payloadBytes}-byte messages; Herald: SendEvent (or SendEventBatch, ${batchSize} events a call, 8 in flight) via h2load on both instances, ` +
      `WatchEvents from this process; Node ${process.version}, ${cpus().length} cores\n` +
      `latency: raw from publish to receive; herald from the core accepting the event to a watcher receiving it ` +
      `(1 ms clock granularity); read it on the 1,000/s rows — at full load it is mostly queueing\n` +
      `vs raw: events/s and deliveries/s against the raw limit (one raw message is one delivery); vs unary: events/s ` +
      `against the unary ceiling; Redis CPU: of the redis-server carrying the app (the one Redis, or the app's ` +
      `shard), per event, over the row; the Herald rows at full load are the median of ${rounds} rounds (BENCH_ROUNDS), ` +
      `configurations measured in turn within each round`,
    [
      "path",
      "events",
      "events/s",
      "deliveries/s",
      "events vs raw",
      "deliveries vs raw",
      "events vs unary",
      "p50 ms",
      "p99 ms",
      "Redis CPU µs/event",
    ],
    rows,
  );
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await redis.destroy();
  await cluster?.destroy();
}
