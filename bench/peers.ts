import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { Redis } from "ioredis";
import { RedisServer } from "../test/support/redis-server.js";
import { rawClients, unary } from "../test/support/grpc-client.js";
import { histogramPercentile, slotMs, type ClientConfig, type ClientResult, type Peer } from "./peers-client.js";
import { cpuMs, fmt, IpcChild, median, ProcGroup, type Proc, report } from "./support.js";

/**
 * bench:peers — Herald against what a Node user would deploy for the same job: socket.io with the
 * Redis adapter. Both the same shape: two server instances on one real Redis, W watchers split
 * evenly over the two, one publisher with `BENCH_INFLIGHT` calls in flight publishing to instance 1,
 * stock clients (grpc-js + proto-loader for Herald, socket.io-client for socket.io) in processes of
 * their own (one for the publisher, one for the watchers). Each measurement runs `BENCH_SECONDS`
 * after a warm-up; the peers are measured in turn, `BENCH_ROUNDS` times over, and the tables show
 * medians and the median of the ratios taken within each round.
 *
 * At one watcher it also sets Herald beside a bare grpc-js echo server driven by the same stock
 * client (the unary ceiling), beside itself publishing with `SendEventBatch` (`BENCH_BATCH` events a
 * call), and with access control on (an API key on every call, as bench:grpc).
 */
const measureSeconds = Number(process.env["BENCH_SECONDS"] ?? 5);
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const watcherCounts = (process.env["BENCH_WATCHERS"] ?? "1,10,100").split(",").map(Number);
const inflight = Number(process.env["BENCH_INFLIGHT"] ?? 64);
const batch = Number(process.env["BENCH_BATCH"] ?? 64);
const batchInflight = Number(process.env["BENCH_BATCH_INFLIGHT"] ?? 8);
/** `max_batch` of the watchers of the "batched watch" target. */
const watchBatch = Number(process.env["BENCH_WATCH_BATCH"] ?? 64);
const warmup = Number(process.env["BENCH_WARMUP_SECONDS"] ?? 1);
/** The unrecorded pass of every target before the rounds (s). */
const warmupSeconds = Number(process.env["BENCH_WARMUP_PASS_SECONDS"] ?? 3);
/** Processes the watchers are spread over (they share the machine's cores with the servers). */
const watcherProcs = Number(process.env["BENCH_WATCHER_PROCS"] ?? 1);
/** Only the measurements whose target name matches (e.g. to profile one path with BENCH_PROFILE); the others print as "-". */
const only = new RegExp(process.env["BENCH_ONLY"] ?? "");
const now = () => performance.timeOrigin + performance.now();

interface Target {
  name: string;
  peer: Peer;
  /** Instance 1 first: the publisher's. */
  addresses: string[];
  pids: Array<number | undefined>;
  /** Redis's process and address, when the target uses one (its CPU and commands are shown apart). */
  redisPid?: number | undefined;
  redisUrl?: string;
  publishKey?: string;
  watchKey?: string;
  /** Herald: the watchers ask for batches of up to this many events (WatchEvents `max_batch`). */
  watchBatch?: number;
  /** Herald: instance 1's /metrics, and the credential it needs with access control on. */
  metrics?: { url: string; key?: string };
  batch: number;
  inflight: number;
}

interface Measured {
  /** Events published (acknowledged) per second; echo: calls. */
  perSecond: number;
  deliveries: number;
  /** Publish → receive (watchers), or the call (no watchers), ms. */
  p50: number;
  p99: number;
  /** Cores the server processes used in the window, summed; and µs of it per delivery (per call without watchers). */
  serverCores: number;
  serverUsPer: number;
  /** Cores the watchers' processes (summed) and the publisher's used (1.0 a process: it was the bottleneck), and Redis. */
  watcherCores: number;
  publisherCores: number;
  redisCores: number;
  /** Commands Redis ran in the window (INFO commandstats). */
  redisCommands: number;
  /** Herald: the mean time instance 1 took to answer a publish call (its own histogram), ms. */
  inCallMs: number;
  failures: number;
  firstFailure?: string;
}

/** The sum and count of instance 1's publish-call durations (SendEvent, SendEventBatch) so far. */
async function callDurations(metrics: Target["metrics"]): Promise<{ sum: number; count: number }> {
  if (!metrics) return { sum: NaN, count: NaN };
  const res = await fetch(metrics.url, metrics.key ? { headers: { authorization: `Bearer ${metrics.key}` } } : {});
  const text = await res.text();
  const total = (name: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${name}{`) && /method="(SendEvent|SendEventBatch)"/.test(l))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf("} ") + 2).split(" ")[0]), 0);
  return { sum: total("herald_rpc_duration_seconds_sum"), count: total("herald_rpc_duration_seconds_count") };
}

/** Commands Redis has run so far, over all commands (INFO commandstats). */
async function redisCommands(url: string | undefined): Promise<number> {
  if (!url) return NaN;
  const redis = new Redis(url);
  try {
    const info = await redis.info("commandstats");
    return [...info.matchAll(/calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  } finally {
    redis.disconnect();
  }
}

const skipped: Measured = {
  perSecond: NaN,
  deliveries: NaN,
  p50: NaN,
  p99: NaN,
  serverCores: NaN,
  serverUsPer: NaN,
  watcherCores: NaN,
  publisherCores: NaN,
  redisCores: NaN,
  redisCommands: NaN,
  inCallMs: NaN,
  failures: 0,
};

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - now())));

async function measure(target: Target, watchers: number, seconds = measureSeconds): Promise<Measured> {
  if (!only.test(target.name)) return skipped;
  const clients: IpcChild[] = [];
  try {
    // The watchers over `watcherProcs` processes; watcher i (of all) on instance (i + 1) mod 2.
    const watching: IpcChild[] = [];
    for (let p = 0, first = 0; p < Math.min(watcherProcs, watchers); p++) {
      const count = Math.floor(watchers / watcherProcs) + (p < watchers % watcherProcs ? 1 : 0);
      watching.push(
        IpcChild.start<ClientConfig>("dist/bench/peers-client.js", {
          role: "watchers",
          peer: target.peer,
          addresses: target.addresses,
          first,
          count,
          ...(target.watchKey ? { key: target.watchKey } : {}),
          ...(target.watchBatch ? { maxBatch: target.watchBatch } : {}),
        }),
      );
      first += count;
    }
    clients.push(...watching);
    const publisher = IpcChild.start<ClientConfig>("dist/bench/peers-client.js", {
      role: "publisher",
      peer: target.peer,
      address: target.addresses[0]!,
      inflight: target.inflight,
      batch: target.batch,
      ...(target.publishKey ? { key: target.publishKey } : {}),
    });
    clients.push(publisher);
    await Promise.all(clients.map((c) => c.next("ready")));
    publisher.send({ start: true });
    await Promise.all(watching.map((w) => w.next("live")));
    const start = Math.ceil((now() + warmup * 1000) / slotMs) * slotMs;
    const window: [number, number] = [start, start + seconds * 1000];
    for (const c of clients) c.send({ window });
    await sleepUntil(window[0]);
    const pids = [...target.pids, publisher.proc.pid, target.redisPid, ...watching.map((w) => w.proc.pid)];
    const cpu0 = pids.map(cpuMs);
    const [calls0, commands0] = await Promise.all([callDurations(target.metrics), redisCommands(target.redisUrl)]);
    await sleepUntil(window[1]);
    const cpu1 = pids.map(cpuMs);
    const [calls1, commands1] = await Promise.all([callDurations(target.metrics), redisCommands(target.redisUrl)]);
    const [published, ...results] = await Promise.all([publisher, ...watching].map((c) => c.next<ClientResult>("result")));
    // They exit once their last call returns (the finally below ends any that does not).
    await Promise.race([Promise.all(clients.map((c) => c.exited)), new Promise((r) => setTimeout(r, 15_000))]);
    const used = cpu1.map((c, i) => c - cpu0[i]!);
    const cores = (i: number) => used[target.pids.length + i]! / 1000 / seconds;
    const perServer = used.slice(0, target.pids.length).map((ms) => fmt(ms / 1000 / seconds, 2));
    const serverMs = used.slice(0, target.pids.length).reduce((a, b) => a + b, 0);
    const received = results.length === 0 ? undefined : results;
    const deliveries = received ? received.reduce((n, r) => n + r.count, 0) : published!.calls;
    const histogram = new Map<number, number>();
    for (const r of received ?? [published!]) for (const [b, n] of r.histogram) histogram.set(b, (histogram.get(b) ?? 0) + n);
    const failures = [published!, ...results].reduce((n, r) => n + r.failures, 0);
    const firstFailure = [published!, ...results].find((r) => r.firstFailure)?.firstFailure;
    const watcherCores = received ? watching.reduce((n, _, i) => n + cores(2 + i), 0) : NaN;
    const m: Measured = {
      perSecond: published!.count / seconds,
      deliveries: deliveries / seconds,
      p50: histogramPercentile(histogram, 50),
      p99: histogramPercentile(histogram, 99),
      serverCores: serverMs / 1000 / seconds,
      serverUsPer: (serverMs * 1000) / deliveries,
      watcherCores,
      publisherCores: cores(0),
      redisCores: cores(1),
      redisCommands: commands1 - commands0,
      inCallMs: ((calls1.sum - calls0.sum) * 1000) / (calls1.count - calls0.count),
      failures,
      ...(firstFailure ? { firstFailure } : {}),
    };
    process.stderr.write(
      `${target.name}, ${watchers} watcher(s): ${fmt(m.perSecond)} events/s, ${fmt(m.deliveries)} deliveries/s, ` +
        `p50 ${fmt(m.p50, 2)} p99 ${fmt(m.p99, 2)} ms, cores used: servers ${fmt(m.serverCores, 2)} (${perServer.join(" + ")}), ` +
        `redis ${fmt(m.redisCores, 2)}, publisher ${fmt(m.publisherCores, 2)}, watchers ${fmt(m.watcherCores, 2)}; ` +
        `Redis commands/event ${fmt(m.redisCommands / m.perSecond / seconds, 1)}; Herald's own time per publish call ${fmt(m.inCallMs, 2)} ms` +
        `${failures ? `, ${failures} failures (${firstFailure})` : ""}\n`,
    );
    return m;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    // Let what the servers still hold drain before the next measurement.
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** An API key for the seed's app with `role`, created with the admin key (as `herald keys create`). */
async function createKey(port: number, adminKey: string, role: string): Promise<string> {
  const admin = rawClients(port, adminKey);
  try {
    const { secret } = await unary<{ secret: string }>(admin.registry, "createApiKey", {
      name: `bench:peers ${role}`,
      roles: [role],
      appIds: ["demo"],
    });
    return secret;
  } finally {
    admin.close();
  }
}

const heraldArgs = (redisUrl: string) => ["--redis-url", redisUrl, "--watch-queue-limit", "100000"];
const grpcTarget = (name: string, ps: Proc[], extra: Partial<Target> = {}): Target => ({
  name,
  peer: "herald",
  addresses: ps.map((p) => `127.0.0.1:${(p.ready["grpcPort"] ?? p.ready["port"]) as number}`),
  pids: ps.map((p) => p.proc.pid),
  redisPid: redis.pid,
  redisUrl: redis.url,
  metrics: { url: `http://127.0.0.1:${ps[0]!.ready["httpPort"] as number}/metrics` },
  batch: 1,
  inflight,
  ...extra,
});

const procs = new ProcGroup();
// One Redis for the peers measured in turn; one more for the Herald pair with access control, whose keys live in it.
const redis = await RedisServer.start({ durable: false });
let redisKeyed: RedisServer | undefined;
try {
  redisKeyed = await RedisServer.start({ durable: false });
  const heralds = [await procs.herald(heraldArgs(redis.url)), await procs.herald(heraldArgs(redis.url))];
  const admin = randomBytes(24).toString("base64url");
  const keyedHeralds = [
    await procs.herald(heraldArgs(redisKeyed.url), { HERALD_ADMIN_KEY: admin }),
    await procs.herald(heraldArgs(redisKeyed.url), { HERALD_ADMIN_KEY: admin }),
  ];
  const keyedPort = keyedHeralds[0]!.ready["grpcPort"] as number;
  const sios = [
    await procs.node("dist/bench/socketio-server.js", [redis.url]),
    await procs.node("dist/bench/socketio-server.js", [redis.url]),
  ];
  const echo = await procs.node("dist/bench/echo-server.js", []);

  const herald = grpcTarget("Herald SendEvent", heralds);
  const socketio: Target = {
    name: "socket.io + redis-adapter",
    peer: "socketio",
    addresses: sios.map((p) => `http://127.0.0.1:${p.ready["port"] as number}`),
    pids: sios.map((p) => p.proc.pid),
    redisPid: redis.pid,
    redisUrl: redis.url,
    batch: 1,
    inflight,
  };
  const ceiling = grpcTarget("grpc-js echo (unary ceiling)", [echo], { peer: "echo", redisPid: undefined });
  delete ceiling.metrics;
  delete ceiling.redisUrl;
  const batched = grpcTarget(`Herald SendEventBatch x${batch}`, heralds, { batch, inflight: batchInflight });
  const batchedWatch = grpcTarget(`Herald SendEventBatch x${batch}, watchers max_batch ${watchBatch}`, heralds, {
    batch,
    inflight: batchInflight,
    watchBatch,
  });
  const keyed = grpcTarget("Herald SendEvent, API keys", keyedHeralds, {
    redisPid: redisKeyed.pid,
    redisUrl: redisKeyed.url,
    metrics: { url: `http://127.0.0.1:${keyedHeralds[0]!.ready["httpPort"] as number}/metrics`, key: admin },
    publishKey: await createKey(keyedPort, admin, "ROLE_PUBLISH"),
    watchKey: await createKey(keyedPort, admin, "ROLE_WATCH"),
  });

  const sweep = new Map(
    watcherCounts.map((w) => [
      w,
      { socketio: [] as Measured[], herald: [] as Measured[], batched: [] as Measured[], batchedWatch: [] as Measured[] },
    ]),
  );
  const one = {
    ceiling: [] as Measured[],
    batched: [] as Measured[],
    batchedWatch: [] as Measured[],
    keyed: [] as Measured[],
    socketio: [] as Measured[],
    herald: [] as Measured[],
  };
  // Each target once, unrecorded, before the rounds: a fresh process runs its first seconds
  // unoptimized (measured here: a cold first Herald row at a fifth of its later rate).
  process.stderr.write("warm-up (not recorded)\n");
  for (const t of [socketio, herald, ceiling, batched, batchedWatch, keyed]) await measure(t, t === ceiling ? 0 : 1, warmupSeconds);
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`round ${r + 1} of ${rounds}\n`);
    for (const [i, w] of watcherCounts.entries()) {
      const results = sweep.get(w)!;
      // Alternate which peer goes first, so that a drift within the round favours neither.
      // Herald twice: publishing with unary SendEvent, and as a service that sends a lot would, with
      // SendEventBatch (the delivery side is then what is measured, not the stock client's calls/s).
      const order: Array<[Target, Measured[]]> = [
        [socketio, results.socketio],
        [herald, results.herald],
        [batched, results.batched],
        [batchedWatch, results.batchedWatch],
      ];
      if ((r + i) % 2 === 1) order.reverse();
      for (const [t, into] of order) into.push(await measure(t, w));
    }
    const w1 = sweep.get(1);
    const extras: Array<[Target, number, Measured[]]> = [
      [ceiling, 0, one.ceiling],
      [keyed, 1, one.keyed],
    ];
    if (!w1) {
      extras.push([socketio, 1, one.socketio], [herald, 1, one.herald], [batched, 1, one.batched], [batchedWatch, 1, one.batchedWatch]);
    }
    if (r % 2 === 1) extras.reverse();
    for (const [t, w, into] of extras) into.push(await measure(t, w));
    if (w1) {
      one.socketio = w1.socketio;
      one.herald = w1.herald;
      one.batched = w1.batched;
      one.batchedWatch = w1.batchedWatch;
    }
  }

  const mid = (xs: Measured[], f: (m: Measured) => number) => median(xs.map(f));
  const ratio = (xs: Measured[], ys: Measured[], f: (m: Measured) => number) => median(xs.map((x, i) => f(x) / f(ys[i]!)));
  const rates = (xs: Measured[], f: (m: Measured) => number) => xs.map((x) => fmt(f(x))).join(" ");
  const failures = (xs: Measured[]) => xs.reduce((n, x) => n + x.failures, 0);
  const deliveries = (m: Measured) => m.deliveries;
  report(
    `bench:peers — two instances on one Redis, W watchers split over both, one publisher (${inflight} calls in flight) on ` +
      `instance 1; stock clients (grpc-js + proto-loader; socket.io-client, websocket) in their own processes, one connection ` +
      `per watcher; every target first warmed up for ${warmupSeconds} s unrecorded, then ${measureSeconds} s after ${warmup} s of warm-up, ${rounds} interleaved rounds: medians, and the median of the ` +
      `per-round ratios; latency from the publisher stamping the message to a watcher receiving it (same host clock); server ` +
      `CPU: both instances' user + system time (Redis not counted) per delivery; watcher CPU: cores the watchers' ` +
      `${watcherProcs} process(es) used (near 1 a process: the client was the limit); Herald with access control off ` +
      `(as ProcGroup.herald starts it); Herald batch: the same pair published to with SendEventBatch (${batch} events a call, ` +
      `${batchInflight} calls in flight), as a service that sends a lot would; Herald batch + batched watch: that, and the ` +
      `watchers ask for up to ${watchBatch} events a response (WatchEvents max_batch), as a consumer of many events would; ` +
      `Node ${process.version}, ${cpus().length} cores`,
    [
      "watchers",
      "socket.io deliveries/s",
      "Herald deliveries/s",
      "Herald / socket.io",
      `Herald batch x${batch} deliveries/s`,
      "Herald batch / socket.io",
      "Herald batch + batched watch deliveries/s",
      "Herald batch + batched watch / socket.io",
      "p50 ms socket.io",
      "p50 ms Herald",
      "p50 ms Herald batch",
      "p99 ms socket.io",
      "p99 ms Herald",
      "p99 ms Herald batch",
      "p99 ms Herald batch + batched watch",
      "server CPU µs/delivery socket.io",
      "server CPU µs/delivery Herald",
      "watcher CPU socket.io",
      "watcher CPU Herald",
      "watcher CPU Herald batch + batched watch",
      "rounds socket.io",
      "rounds Herald",
      "failures socket.io / Herald / batch / batched watch",
    ],
    [...sweep].map(([w, { socketio: s, herald: h, batched: b, batchedWatch: bw }]) => [
      w,
      fmt(mid(s, deliveries)),
      fmt(mid(h, deliveries)),
      `${fmt(100 * ratio(h, s, deliveries))}%`,
      fmt(mid(b, deliveries)),
      `${fmt(100 * ratio(b, s, deliveries))}%`,
      fmt(mid(bw, deliveries)),
      `${fmt(100 * ratio(bw, s, deliveries))}%`,
      fmt(
        mid(s, (m) => m.p50),
        2,
      ),
      fmt(
        mid(h, (m) => m.p50),
        2,
      ),
      fmt(
        mid(b, (m) => m.p50),
        2,
      ),
      fmt(
        mid(s, (m) => m.p99),
        2,
      ),
      fmt(
        mid(h, (m) => m.p99),
        2,
      ),
      fmt(
        mid(b, (m) => m.p99),
        2,
      ),
      fmt(
        mid(bw, (m) => m.p99),
        2,
      ),
      fmt(
        mid(s, (m) => m.serverUsPer),
        1,
      ),
      fmt(
        mid(h, (m) => m.serverUsPer),
        1,
      ),
      fmt(
        mid(s, (m) => m.watcherCores),
        2,
      ),
      fmt(
        mid(h, (m) => m.watcherCores),
        2,
      ),
      fmt(
        mid(bw, (m) => m.watcherCores),
        2,
      ),
      rates(s, deliveries),
      rates(h, deliveries),
      `${failures(s)} / ${failures(h)} / ${failures(b)} / ${failures(bw)}`,
    ]),
  );
  const perSecond = (m: Measured) => m.perSecond;
  const oneRows: Array<[string, Measured[]]> = [
    [ceiling.name, one.ceiling],
    ["Herald SendEvent", one.herald],
    [`Herald SendEventBatch, ${batch} events a call, ${batchInflight} calls in flight`, one.batched],
    [`Herald SendEventBatch x${batch}, watcher max_batch ${watchBatch}`, one.batchedWatch],
    ["Herald SendEvent, access control on (API keys)", one.keyed],
    ["socket.io + redis-adapter", one.socketio],
  ];
  report(
    `bench:peers — one watcher (on instance 2 where there are two instances): events/s published (acknowledged); the echo ` +
      `is one grpc-js server answering SendEvent to the same stock client (${inflight} in flight), the unary ceiling; ` +
      `latency: publish → receive, the echo's the call; server CPU per event (per call for the echo); Herald's own ms/call: ` +
      `the mean time instance 1 took to answer a publish call, from its /metrics (what the stock client waited for beyond ` +
      `it is the client, the connection and the queue before Herald); Redis commands/event: all commands Redis ran in the ` +
      `window (INFO commandstats: those a Lua script runs count too) per event published`,
    [
      "path",
      "events/s",
      "deliveries/s",
      "vs echo",
      "vs socket.io",
      "p50 ms",
      "p99 ms",
      "server CPU µs/event",
      "Redis commands/event",
      "Herald's own ms/call",
      "rounds events/s",
      "failures",
    ],
    oneRows.map(([name, xs]) => [
      name,
      fmt(mid(xs, perSecond)),
      xs === one.ceiling ? "-" : fmt(mid(xs, deliveries)),
      `${fmt(100 * ratio(xs, one.ceiling, perSecond))}%`,
      `${fmt(100 * ratio(xs, one.socketio, perSecond))}%`,
      fmt(
        mid(xs, (m) => m.p50),
        2,
      ),
      fmt(
        mid(xs, (m) => m.p99),
        2,
      ),
      fmt(
        mid(xs, (m) => (m.serverCores * 1e6) / m.perSecond),
        1,
      ),
      fmt(
        mid(xs, (m) => m.redisCommands / m.perSecond / measureSeconds),
        1,
      ),
      fmt(
        mid(xs, (m) => m.inCallMs),
        2,
      ),
      rates(xs, perSecond),
      failures(xs),
    ]),
  );
} finally {
  await procs.stop();
  await redis.destroy();
  await redisKeyed?.destroy();
}
