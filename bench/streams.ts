import { request } from "node:http";
import { cpus } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { rawClients, unary } from "../test/support/grpc-client.js";
import type { StreamsConfig } from "./streams-clients.js";
import { cpuMs, fmt, IpcChild, median, ProcGroup, type Proc, report, root } from "./support.js";

/**
 * bench:streams — what idle streams cost one Herald process: `BENCH_STREAMS` WatchEvents calls
 * (gRPC, multiplexed over a few HTTP/2 connections from several client processes) and
 * `BENCH_XMS_STREAMS` long-held XMS event handler GETs (one connection each), against the floor: a
 * bare grpc-js server holding the same number of idle server-streams, doing nothing. Per stream: the
 * growth of the server's heap and RSS from before the streams to after, each taken after a full
 * collection (Herald is started with --expose-gc and a preloaded SIGUSR2 → gc() hook,
 * bench/gc-on-signal.ts, and read from its /metrics), the median of `BENCH_SAMPLES`. Then the time
 * from publishing an event to every stream having received it (each client process reports when
 * all its streams have), the median of `BENCH_FANOUTS` events and the first apart, with the CPU the
 * server and the clients used meanwhile. Each server is a process of its own, started fresh for its row.
 */
const streams = Number(process.env["BENCH_STREAMS"] ?? 50_000);
const xmsStreams = Number(process.env["BENCH_XMS_STREAMS"] ?? 5_000);
const clientProcs = Number(process.env["BENCH_CLIENT_PROCS"] ?? 4);
/** HTTP/2 connections per client process. */
const connections = Number(process.env["BENCH_CONNECTIONS"] ?? 4);
const samples = Number(process.env["BENCH_SAMPLES"] ?? 3);
/** Events published to all the streams, one after another: the table shows the median and the first. */
const fanouts = Number(process.env["BENCH_FANOUTS"] ?? 5);
/** Rows to run (comma-separated: floor, grpc, xms); all by default. */
const only = (process.env["BENCH_ONLY"] ?? "floor,grpc,xms").split(",");
/** How long the streams may take to open (a 2-core machine opens some thousands a second). */
const openTimeout = Number(process.env["BENCH_OPEN_TIMEOUT_SECONDS"] ?? 600) * 1000;
const now = () => performance.timeOrigin + performance.now();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Memory {
  heap: number;
  rss: number;
}

interface Row {
  server: string;
  streams: number;
  before: Memory;
  after: Memory;
  openSeconds: number;
  fan: Fan;
}

/** An event to every stream: the time until the last received it, and the CPU the server and the clients used meanwhile (medians). */
interface Fan {
  ms: number;
  firstMs: number;
  serverCpuMs: number;
  clientsCpuMs: number;
}

function httpText(url: string, method = "GET", body?: string, contentType?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ...(contentType ? { headers: { "content-type": contentType } } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A sample's value from the Prometheus text format (the first series of that name and labels). */
function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in /metrics`);
  return Number(line.slice(series.length + 1).split(" ")[0]);
}

/** The medians of `samples` readings. */
async function sampled(read: () => Promise<Memory>): Promise<Memory> {
  const readings: Memory[] = [];
  for (let i = 0; i < samples; i++) readings.push(await read());
  return { heap: median(readings.map((m) => m.heap)), rss: median(readings.map((m) => m.rss)) };
}

/** Herald's heap and RSS from its /metrics, right after a full collection (SIGUSR2, bench/gc-on-signal.ts). */
function heraldMemory(herald: Proc): () => Promise<Memory> {
  const url = `http://127.0.0.1:${herald.ready["metricsPort"] as number}/metrics`;
  return async () => {
    herald.proc.kill("SIGUSR2");
    await pause(500); // the collection runs on Herald's event loop: let it go first
    const { text } = await httpText(url);
    return { heap: metric(text, "nodejs_heap_size_used_bytes"), rss: metric(text, "process_resident_memory_bytes") };
  };
}

async function heraldWatchers(herald: Proc, kind: string): Promise<number> {
  const { text } = await httpText(`http://127.0.0.1:${herald.ready["metricsPort"] as number}/metrics`);
  return metric(text, `herald_watchers{kind="${kind}"}`);
}

/** Waits until `count()` reaches `n`, saying how far it got now and then. */
async function opened(what: string, n: number, count: () => Promise<number>, clients: IpcChild[]): Promise<void> {
  const deadline = Date.now() + openTimeout;
  let last = 0;
  for (;;) {
    const open = await count().catch(() => 0);
    if (open >= n) return;
    const failure = clients.map((c) => c.peek<string>("failure")).find((f) => f !== undefined);
    if (failure) throw new Error(`${what}: a stream failed: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${what}: only ${open} of ${n} streams open after ${openTimeout / 1000} s`);
    if (Date.now() - last > 5000) {
      process.stderr.write(`${what}: ${open} of ${n} streams open\n`);
      last = Date.now();
    }
    await pause(250);
  }
}

/** Starts the client processes, `configs` one each, and waits until each has opened its streams. */
async function startClients(configs: StreamsConfig[]): Promise<IpcChild[]> {
  const clients = configs.map((c) => IpcChild.start("dist/bench/streams-clients.js", c));
  await Promise.all(clients.map((c) => c.next("opened", openTimeout)));
  return clients;
}

/**
 * Publishes `fanouts` events one after another (each after every client expects it, the next once
 * every stream has received the last): per event, the time until every client's last stream has
 * received it and the CPU the server and the clients used meanwhile; the medians, and the first
 * event's time apart (the clients' first message on each stream runs code not yet optimized).
 */
async function fanOut(clients: IpcChild[], serverPid: number | undefined, publish: () => Promise<unknown>): Promise<Fan> {
  const clientsCpu = () => clients.reduce((n, c) => n + cpuMs(c.proc.pid), 0);
  const each: Array<Omit<Fan, "firstMs">> = [];
  for (let i = 0; i < fanouts; i++) {
    for (const c of clients) c.send({ expect: true });
    await Promise.all(clients.map((c) => c.take("expecting")));
    const server0 = cpuMs(serverPid);
    const clients0 = clientsCpu();
    const monotonic0 = process.hrtime.bigint() / 1000n;
    const t0 = now();
    await publish();
    const at = await Promise.all(clients.map((c) => c.take<number>("at", 120_000)));
    each.push({ ms: Math.max(...at) - t0, serverCpuMs: cpuMs(serverPid) - server0, clientsCpuMs: clientsCpu() - clients0 });
    // For `profile-top --between` on the processes' profiles (BENCH_PROFILE): this event's window.
    if (process.env["BENCH_PROFILE"])
      process.stderr.write(`fan-out window (monotonic µs): ${monotonic0},${process.hrtime.bigint() / 1000n}\n`);
  }
  return {
    ms: median(each.map((e) => e.ms)),
    firstMs: each[0]!.ms,
    serverCpuMs: median(each.map((e) => e.serverCpuMs)),
    clientsCpuMs: median(each.map((e) => e.clientsCpuMs)),
  };
}

async function stopClients(clients: IpcChild[]): Promise<void> {
  for (const c of clients) c.send({ exit: true });
  await Promise.all(clients.map((c) => c.stop()));
}

/** Splits `n` streams over the client processes. */
const shares = (n: number) => Array.from({ length: clientProcs }, (_, i) => Math.floor(n / clientProcs) + (i < n % clientProcs ? 1 : 0));

/** gRPC streams: `connections` per client process, the calls spread over them. */
const grpcConfigs = (port: number): StreamsConfig[] =>
  shares(streams)
    .filter((n) => n > 0)
    .map((count) => ({ kind: "grpc", address: `127.0.0.1:${port}`, count, connections }));

const procs = new ProcGroup();
const gcHook = ["--expose-gc", "--import", pathToFileURL(join(root, "dist/bench/gc-on-signal.js")).href];
const perConnection = Math.ceil(streams / clientProcs / connections);

async function floorRow(): Promise<Row> {
  const floor = await procs.node("dist/bench/idle-streams-server.js", [], {}, ["--expose-gc"]);
  const control = `http://127.0.0.1:${floor.ready["controlPort"] as number}`;
  const memory = async () => JSON.parse((await httpText(`${control}/gc`)).text) as Memory;
  const before = await sampled(memory);
  const t0 = Date.now();
  const clients = await startClients(grpcConfigs(floor.ready["port"] as number));
  try {
    await opened("floor", streams, async () => (JSON.parse((await httpText(`${control}/count`)).text) as { open: number }).open, clients);
    const openSeconds = (Date.now() - t0) / 1000;
    const after = await sampled(memory);
    const fan = await fanOut(clients, floor.proc.pid, () => httpText(`${control}/publish`, "POST"));
    return { server: "bare grpc-js, idle server-streams (floor)", streams, before, after, openSeconds, fan };
  } finally {
    await stopClients(clients);
    await floor.stop();
  }
}

async function grpcRow(): Promise<Row> {
  const herald = await procs.herald(
    [
      "--metrics-port",
      "0",
      "--grpc-max-concurrent-streams",
      String(perConnection + 100),
      "--max-grpc-connections",
      String(Math.max(10_000, clientProcs * connections + 100)),
    ],
    {},
    gcHook,
  );
  const before = await sampled(heraldMemory(herald));
  const t0 = Date.now();
  const clients = await startClients(grpcConfigs(herald.ready["grpcPort"] as number));
  try {
    await opened("herald grpc", streams, () => heraldWatchers(herald, "grpc"), clients);
    const openSeconds = (Date.now() - t0) / 1000;
    const after = await sampled(heraldMemory(herald));
    const hub = rawClients(herald.ready["grpcPort"] as number);
    try {
      const fan = await fanOut(clients, herald.proc.pid, () =>
        unary(hub.hub, "sendEvent", { eventId: "1", subscribers: [{ ksid: "xxxx" }], namePairs: [{ name: "lastname", content: "Smith" }] }),
      );
      return { server: "Herald WatchEvents (gRPC, embedded)", streams, before, after, openSeconds, fan };
    } finally {
      hub.close();
    }
  } finally {
    await stopClients(clients);
    await herald.stop();
  }
}

async function createHandler(base: string): Promise<string> {
  const body = `<web_service version="1.0"><eventhandler><eventsubscribe type="any"/></eventhandler></web_service>`;
  const { text } = await httpText(`${base}/eventhandlers?appid=demo`, "POST", body, "application/xml");
  const id = /identifier="([^"]+)"/.exec(text)?.[1];
  if (!id) throw new Error(`no handler created: ${text}`);
  return id;
}

async function xmsRow(): Promise<Row> {
  const herald = await procs.herald(
    [
      "--metrics-port",
      "0",
      "--max-handlers-per-app",
      String(xmsStreams + 100),
      "--max-http-connections",
      String(Math.max(10_000, xmsStreams + 1000)),
    ],
    {},
    gcHook,
  );
  const base = `http://127.0.0.1:${herald.ready["httpPort"] as number}`;
  // The handlers exist before the first reading: what is counted is the streams.
  const ids: string[] = [];
  for (let i = 0; i < xmsStreams; i += 100) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(100, xmsStreams - i) }, () => createHandler(base)))));
  }
  const before = await sampled(heraldMemory(herald));
  const t0 = Date.now();
  const urls = ids.map((id) => `${base}/default/eventhandlers/${id}?appid=demo`);
  let from = 0;
  const configs: StreamsConfig[] = shares(xmsStreams)
    .filter((n) => n > 0)
    .map((n) => ({ kind: "xms", urls: urls.slice(from, (from += n)) }));
  const clients = await startClients(configs);
  try {
    await opened("herald xms", xmsStreams, () => heraldWatchers(herald, "xms"), clients);
    const openSeconds = (Date.now() - t0) / 1000;
    const after = await sampled(heraldMemory(herald));
    const hub = rawClients(herald.ready["grpcPort"] as number);
    try {
      // An XMS-typed event (a Kony event, typed only by its id, is not for XMS streams).
      const event = {
        appId: "demo",
        eventId: "1",
        type: "incoming",
        resourceType: "call",
        resourceId: "c1",
        namePairs: [{ name: "lastname", content: "Smith" }],
      };
      const fan = await fanOut(clients, herald.proc.pid, () => unary(hub.hub, "sendEvent", event));
      return { server: "Herald XMS event handler streams (HTTP/1.1, embedded)", streams: xmsStreams, before, after, openSeconds, fan };
    } finally {
      hub.close();
    }
  } finally {
    await stopClients(clients);
    await herald.stop();
  }
}

try {
  const rows: Row[] = [];
  const runs = { floor: floorRow, grpc: grpcRow, xms: xmsRow };
  for (const [name, run] of Object.entries(runs)) {
    if (!only.includes(name)) continue;
    const row = await run();
    process.stderr.write(
      `${row.server}: ${row.streams} streams open in ${fmt(row.openSeconds, 1)} s; heap ${fmt(row.before.heap / 2 ** 20)} → ` +
        `${fmt(row.after.heap / 2 ** 20)} MB, RSS ${fmt(row.before.rss / 2 ** 20)} → ${fmt(row.after.rss / 2 ** 20)} MB; ` +
        `one event to all in ${fmt(row.fan.ms, 1)} ms (median of ${fanouts}; the first ${fmt(row.fan.firstMs, 1)} ms; CPU: server ${fmt(row.fan.serverCpuMs)} ms, clients ${fmt(row.fan.clientsCpuMs)} ms)\n`,
    );
    rows.push(row);
  }
  const perStream = (r: Row, k: keyof Memory) => (r.after[k] - r.before[k]) / r.streams / 1024;
  const floor = only.includes("floor") ? rows[0] : undefined;
  const vsFloor = (r: Row, k: keyof Memory) => (floor ? `${fmt(perStream(r, k) / perStream(floor, k), 1)}x` : "");
  report(
    `bench:streams — idle streams held by one server process (each its own process, fresh per row); clients in ` +
      `${clientProcs} processes of their own (gRPC: ${connections} HTTP/2 connections each, calls multiplexed on them; ` +
      `XMS: one connection per stream); heap and RSS after a full collection, median of ${samples}, growth from before the ` +
      `streams to after divided by their count (the XMS handlers are created before the first reading); ` +
      `"one event to all": from the publish call to the last stream receiving it, the median of ${fanouts} events published one ` +
      `after another, and the first of them apart; the CPU time the server process and the client processes (summed) used ` +
      `meanwhile (medians; clock ticks: 10 ms steps); Node ${process.version}, ${cpus().length} cores`,
    [
      "server",
      "streams",
      "heap KiB/stream",
      "RSS KiB/stream",
      "heap vs floor",
      "RSS vs floor",
      "one event to all ms",
      "the first event ms",
      "server CPU ms",
      "clients CPU ms",
      "opened in s",
      "RSS after MB",
    ],
    rows.map((r) => [
      r.server,
      r.streams,
      fmt(perStream(r, "heap"), 2),
      fmt(perStream(r, "rss"), 2),
      vsFloor(r, "heap"),
      vsFloor(r, "rss"),
      fmt(r.fan.ms, 1),
      fmt(r.fan.firstMs, 1),
      fmt(r.fan.serverCpuMs),
      fmt(r.fan.clientsCpuMs),
      fmt(r.openSeconds, 1),
      fmt(r.after.rss / 2 ** 20),
    ]),
  );
} finally {
  await procs.stop();
}
