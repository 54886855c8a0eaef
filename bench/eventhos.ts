import { createServer, request as httpRequest, Agent } from "node:http";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { RedisServer } from "../test/support/redis-server.js";
import { closedLoop, fmt, h2load, percentile, report, requireH2load, startHeraldProcess, startNode, type Proc } from "./support.js";

/**
 * bench:eventhos — events/s accepted by POST /event/send (h2load, HTTP/1.1 keep-alive), contract
 * executions/s against a local target, and the latency from send to the target receiving the
 * call (p50/p99, a closed loop of senders stamping each body). Herald runs in its own process,
 * embedded and on Redis; the target runs in this process, so both ends read one clock. Ceilings,
 * in the same run: a bare Koa route answering /event/send's success (accepting), and the target
 * itself loaded straight by h2load (executing).
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 20_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const latencySeconds = Number(process.env["BENCH_LATENCY_SECONDS"] ?? 5);
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

interface Row {
  accepted: number;
  succeeded: number;
  executions: number;
  p50: number;
  p99: number;
}

async function drain(expected: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (calls < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function measure(name: string, herald: Proc): Promise<Row> {
  const port = herald.ready["httpPort"] as number;
  const path = await setUp(port);
  const url = `http://127.0.0.1:${port}${path}`;
  const options = { clients, streams: 1, http1: { contentType: "application/json" } };
  // Warm-up (JIT, connections), then drained so it does not count.
  const warm = await h2load(url, bodyFile, { ...options, requests: Math.ceil(requests / 10) });
  await drain(calls + warm.succeeded);
  calls = 0;
  const started = now();
  const load = await h2load(url, bodyFile, { ...options, requests });
  await drain(load.succeeded);
  const executions = (calls / (lastCallMs - started)) * 1000;
  // Latency: senders in a closed loop, each body stamped; the target measures on arrival.
  latencies = [];
  await closedLoop(() => call(port, "POST", path, { sentAt: now() }), { concurrency: 8, warmup: 1, seconds: latencySeconds });
  await drain(Infinity, 2000); // let the last calls land
  const sorted = latencies.sort((a, b) => a - b);
  process.stderr.write(`${name}: ${fmt(load.perSecond)} events/s accepted, ${fmt(executions)} executions/s\n`);
  return { accepted: load.perSecond, succeeded: load.succeeded, executions, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

await requireH2load();
const rows: Array<[string, Row]> = [];
{
  const options = { clients, streams: 1, http1: { contentType: "application/json" } };
  const bare = await startNode("dist/bench/koa-bare.js", ["eventhos"]);
  try {
    const url = `http://127.0.0.1:${bare.ready["port"] as number}/event/send`;
    await h2load(url, bodyFile, { ...options, requests: Math.ceil(requests / 10) });
    const r = await h2load(url, bodyFile, { ...options, requests });
    rows.push([
      "bare Koa route, fixed reply (accepting ceiling)",
      { accepted: r.perSecond, succeeded: r.succeeded, executions: NaN, p50: NaN, p99: NaN },
    ]);
  } finally {
    await bare.stop();
  }
  const url = `http://127.0.0.1:${targetPort}/hook`;
  await h2load(url, bodyFile, { ...options, requests: Math.ceil(requests / 10) });
  const r = await h2load(url, bodyFile, { ...options, requests });
  rows.push([
    "the target alone, loaded directly (executing ceiling)",
    { accepted: NaN, succeeded: r.succeeded, executions: r.perSecond, p50: NaN, p99: NaN },
  ]);
  calls = 0;
}
const [bareRow, targetRow] = [rows[0]![1], rows[1]![1]];
const embedded = await startHeraldProcess(["--delivery-allow-hosts", "127.0.0.1"], { HERALD_ADMIN_KEY: ADMIN });
try {
  rows.push(["Herald embedded (memory queue)", await measure("embedded", embedded)]);
} finally {
  await embedded.stop();
}
const redis = await RedisServer.start({ durable: false });
try {
  const withRedis = await startHeraldProcess(["--delivery-allow-hosts", "127.0.0.1", "--redis-url", redis.url], {
    HERALD_ADMIN_KEY: ADMIN,
  });
  try {
    rows.push(["Herald + Redis (stream queue)", await measure("redis", withRedis)]);
  } finally {
    await withRedis.stop();
  }
} finally {
  await redis.destroy();
}
agent.destroy();
target.close();
report(
  `bench:eventhos — POST /event/send (the document's sample body), one contract to a local target; h2load HTTP/1.1, ` +
    `${requests} events, ${clients} connections; latency: 8 senders in a closed loop for ${latencySeconds} s; Node ${process.version}, ${cpus().length} cores`,
  ["server", "events/s accepted", "vs bare", "executions/s", "vs target", "send→target p50 ms", "p99 ms", "2xx"],
  rows.map(([name, r]) => [
    name,
    Number.isNaN(r.accepted) ? "-" : fmt(r.accepted),
    Number.isNaN(r.accepted) ? "-" : `${fmt((100 * r.accepted) / bareRow.accepted)}%`,
    Number.isNaN(r.executions) ? "-" : fmt(r.executions),
    Number.isNaN(r.executions) ? "-" : `${fmt((100 * r.executions) / targetRow.executions)}%`,
    Number.isNaN(r.p50) ? "-" : fmt(r.p50, 2),
    Number.isNaN(r.p99) ? "-" : fmt(r.p99, 2),
    `${r.succeeded}/${requests}`,
  ]),
);
