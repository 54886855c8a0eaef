import { createServer, request as httpRequest, Agent } from "node:http";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { RedisServer } from "../test/support/redis-server.js";
import {
  closedLoop,
  cpuMs,
  fmt,
  h2load,
  median as middle,
  percentile,
  ProcGroup,
  report,
  requireH2load,
  roundsSummary,
  type Proc,
} from "./support.js";

/**
 * bench:eventhos — events/s accepted by POST /event/send (h2load, HTTP/1.1 keep-alive), contract
 * executions/s against a local target, and the latency from send to the target receiving the
 * call (p50/p99, a closed loop of senders stamping each body). Herald runs in its own process,
 * embedded and on Redis; the target runs in this process, so both ends read one clock. Ceilings,
 * in the same run: a bare Koa route answering /event/send's success (accepting), and the target
 * itself loaded straight by h2load (executing). The rows are measured in turn, `BENCH_ROUNDS` times
 * over, with each process's CPU per request (/proc), which moves much less than the rate when others
 * load the machine.
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 20_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const latencySeconds = Number(process.env["BENCH_LATENCY_SECONDS"] ?? 5);
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const ADMIN = "bench-admin-token";
const dir = mkdtempSync(join(tmpdir(), "herald-bench-eventhos-"));
const bodyFile = join(dir, "event.json");
writeFileSync(bodyFile, JSON.stringify({ name: "Morpheush", job: "Leader", id: "199", createdAt: "2020-02-20T11:00:28.107Z" }));

/** The target: counts calls; a body with `sentAt` (epoch ms, fractional) gives a latency sample. */
let calls = 0;
let lastCallMs = 0;
let latencies: number[] = [];
const now = () => performance.timeOrigin + performance.now();
const target = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    calls++;
    lastCallMs = now();
    const sentAt = (JSON.parse(Buffer.concat(chunks).toString() || "{}") as { sentAt?: number }).sentAt;
    if (typeof sentAt === "number") latencies.push(now() - sentAt);
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
});
target.listen(0, "127.0.0.1");
await once(target, "listening");
const targetPort = (target.address() as { port: number }).port;

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function call(
  port: number,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method, path, agent, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || "null") }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A producer, a client key, and one contract calling the target. Returns the send path. */
async function setUp(port: number): Promise<string> {
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await call(port, method, path, body, { authorization: `Bearer ${ADMIN}` });
    if (r.json?.code !== 200000) throw new Error(`${method} ${path}: ${JSON.stringify(r.json)}`);
    return r.json.content;
  };
  await admin("POST", "/system", { id: "bench", name: "bench" });
  await admin("POST", "/system", { id: "bench-target", name: "bench target" });
  await admin("POST", "/event", { id: "bench-event", appId: "bench", name: "event" });
  await admin("POST", "/client", { id: "bench-client", appId: "bench", name: "bench", secret: "s" });
  const { key } = await admin("POST", "/client/bench-client/key");
  await admin("POST", "/action", {
    id: "bench-action",
    appId: "bench-target",
    name: "hook",
    method: "POST",
    url: `http://127.0.0.1:${targetPort}/hook`,
  });
  await admin("POST", "/contract", { id: "bench-contract", eventId: "bench-event", actionId: "bench-action", order: 1 });
  return `/event/send?event-identifier=bench-event&access-key=${encodeURIComponent(key as string)}`;
}

interface Measured {
  perSecond: number;
  succeeded: number;
  requests: number;
  /** Executions/s, from the load's start to the last call landing. */
  executions: number;
  /** The Herald (or bare Koa) process's CPU (user + system) per request while h2load ran, µs. */
  cpuLoad: number;
  /** Its CPU per event from the load's start until every execution reached the target, µs. */
  cpuAll: number;
  /** redis-server's CPU per event over the same span, µs (Redis rows). */
  cpuRedis: number;
}

interface Row {
  name: string;
  pid: number | undefined;
  redisPid?: number | undefined;
  url: string;
  /** Herald rows: the send path drives contract executions to drain. */
  delivers: boolean;
  results: Measured[];
  p50: number;
  p99: number;
}

async function drain(expected: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (calls < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

const loadOptions = { clients, streams: 1, http1: { contentType: "application/json" } };

async function measure(row: Row): Promise<void> {
  calls = 0;
  const [cpu0, redis0] = [cpuMs(row.pid), cpuMs(row.redisPid)];
  const started = now();
  const load = await h2load(row.url, bodyFile, { ...loadOptions, requests });
  const cpuLoad = cpuMs(row.pid) - cpu0;
  if (row.delivers) await drain(load.succeeded);
  const [cpuAll, cpuRedis] = [cpuMs(row.pid) - cpu0, cpuMs(row.redisPid) - redis0];
  const executions = row.delivers ? (calls / (lastCallMs - started)) * 1000 : NaN;
  const per = (ms: number) => (ms * 1000) / load.requests;
  process.stderr.write(
    `${row.name}: ${fmt(load.perSecond)} req/s, ${fmt(per(cpuLoad))} µs CPU/req` +
      (row.delivers ? `, ${fmt(executions)} executions/s, ${fmt(per(cpuAll))} µs CPU/event to drained` : "") +
      (row.redisPid ? `, redis ${fmt(per(cpuRedis))} µs/event` : "") +
      "\n",
  );
  row.results.push({
    perSecond: load.perSecond,
    succeeded: load.succeeded,
    requests: load.requests,
    executions,
    cpuLoad: per(cpuLoad),
    cpuAll: row.delivers ? per(cpuAll) : NaN,
    cpuRedis: row.redisPid ? per(cpuRedis) : NaN,
  });
}

/** Latency: senders in a closed loop, each body stamped; the target measures on arrival. */
async function latency(row: Row, port: number, path: string): Promise<void> {
  latencies = [];
  await closedLoop(() => call(port, "POST", path, { sentAt: now() }), { concurrency: 8, warmup: 1, seconds: latencySeconds });
  await drain(Infinity, 2000); // let the last calls land
  const sorted = latencies.sort((a, b) => a - b);
  row.p50 = percentile(sorted, 50);
  row.p99 = percentile(sorted, 99);
}

await requireH2load();
const procs = new ProcGroup();
const redis = await RedisServer.start({ durable: false });
try {
  const bare = await procs.node("dist/bench/koa-bare.js", ["eventhos"]);
  const embedded = await procs.herald(["--delivery-allow-hosts", "127.0.0.1"], { HERALD_ADMIN_KEY: ADMIN });
  const withRedis = await procs.herald(["--delivery-allow-hosts", "127.0.0.1", "--redis-url", redis.url], { HERALD_ADMIN_KEY: ADMIN });
  const httpPort = (p: Proc) => p.ready["httpPort"] as number;
  const paths = [await setUp(httpPort(embedded)), await setUp(httpPort(withRedis))];
  const row = (name: string, p: Proc, path: string, extra: Partial<Row> = {}): Row => ({
    name,
    pid: p.proc.pid,
    url: `http://127.0.0.1:${httpPort(p) ?? (p.ready["port"] as number)}${path}`,
    delivers: true,
    results: [],
    p50: NaN,
    p99: NaN,
    ...extra,
  });
  const rows: Row[] = [
    row("bare Koa route, fixed reply (accepting ceiling)", bare, "/event/send", { delivers: false }),
    row("Herald embedded (memory queue)", embedded, paths[0]!),
    row("Herald + Redis (stream queue)", withRedis, paths[1]!, { redisPid: redis.pid }),
  ];
  // Warm-up (JIT, connections), drained so that it does not count.
  for (const r of rows) {
    calls = 0;
    const warm = await h2load(r.url, bodyFile, { ...loadOptions, requests: Math.ceil(requests / 10) });
    if (r.delivers) await drain(warm.succeeded);
  }
  for (let round = 0; round < rounds; round++) for (const r of rows) await measure(r);
  await latency(rows[1]!, httpPort(embedded), paths[0]!);
  await latency(rows[2]!, httpPort(withRedis), paths[1]!);
  // The executing ceiling: the target itself, loaded directly.
  const targetUrl = `http://127.0.0.1:${targetPort}/hook`;
  await h2load(targetUrl, bodyFile, { ...loadOptions, requests: Math.ceil(requests / 10) });
  const targetRate = (await h2load(targetUrl, bodyFile, { ...loadOptions, requests })).perSecond;

  const ceiling = rows[0]!.results;
  report(
    `bench:eventhos — POST /event/send (the document's sample body), one contract to a local target; h2load HTTP/1.1, ` +
      `${requests} events, ${clients} connections, ${rounds} interleaved rounds: median rate, median of the per-round ratios; ` +
      `latency: 8 senders in a closed loop for ${latencySeconds} s; Node ${process.version}, ${cpus().length} cores\n` +
      `CPU µs/req: the server process's user + system time per request while h2load ran (/proc; the delivery engine runs ` +
      `meanwhile); to drained: per event until every execution reached the target; redis: redis-server's per event; ` +
      `medians of the rounds. The target alone, loaded directly (executing ceiling): ${fmt(targetRate)} req/s`,
    [
      "server",
      "events/s accepted",
      "vs bare",
      "CPU µs/req",
      "CPU vs bare",
      "CPU µs/event to drained",
      "redis µs/event",
      "executions/s",
      "vs target",
      "send→target p50 ms",
      "p99 ms",
      "rounds req/s",
      "2xx",
    ],
    rows.map((r) => {
      const { median, ratio, rates } = roundsSummary(r.results, ceiling);
      const mid = (f: (m: Measured) => number) => middle(r.results.map(f));
      const ok = r.results.reduce((n, x) => n + x.succeeded, 0);
      const all = r.results.reduce((n, x) => n + x.requests, 0);
      return [
        r.name,
        fmt(median.perSecond),
        ratio,
        fmt(
          mid((m) => m.cpuLoad),
          1,
        ),
        `${fmt(100 * middle(r.results.map((m, i) => ceiling[i]!.cpuLoad / m.cpuLoad)))}%`,
        fmt(
          mid((m) => m.cpuAll),
          1,
        ),
        fmt(
          mid((m) => m.cpuRedis),
          1,
        ),
        fmt(mid((m) => m.executions)),
        r.delivers ? `${fmt((100 * mid((m) => m.executions)) / targetRate)}%` : "-",
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        rates,
        `${ok}/${all}`,
      ];
    }),
  );
} finally {
  await procs.stop();
  await redis.destroy();
  agent.destroy();
  target.close();
}
