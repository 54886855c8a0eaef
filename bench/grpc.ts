import { RedisServer } from "../test/support/redis-server.js";
import { rawClients, unary } from "../test/support/grpc-client.js";
import { fmt, grpcFrameFile, h2load, requireH2load, startHeraldProcess, startNode, table, type H2loadResult, type Proc } from "./support.js";

/**
 * bench:grpc — unary SendEvent calls/s through Herald against a bare grpc-js echo server, in one
 * run on this machine. Each server runs in its own process; h2load drives it.
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 60_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 4);
const streams = Number(process.env["BENCH_STREAMS"] ?? 32);
const request = {
  eventId: "1",
  subscribers: [{ ref: { case: "ksid" as const, value: "xxxx" } }],
  namePairs: [{ name: "lastname", content: "Smith" }],
  content: { mimeType: "text/plain" },
};
const body = grpcFrameFile(request);

interface Measured extends H2loadResult {
  /** Calls Herald really published (from its msg id counter); h2load sees only HTTP status. */
  published: number | undefined;
}

async function measure(name: string, start: () => Promise<Proc>, herald: boolean): Promise<Measured> {
  const server = await start();
  const port = (server.ready["grpcPort"] ?? server.ready["port"]) as number;
  const grpc = rawClients(port);
  try {
    const probe = { eventId: "1", subscribers: [{ ksid: "xxxx" }] };
    await unary(grpc.hub, "sendEvent", probe); // it works before it is measured
    // Warm up (JIT, connections), then measure.
    await h2load(`http://127.0.0.1:${port}/herald.v1.HubService/SendEvent`, body, { requests: Math.ceil(requests / 10), clients, streams });
    const before = await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe);
    const result = await h2load(`http://127.0.0.1:${port}/herald.v1.HubService/SendEvent`, body, { requests, clients, streams });
    const after = await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe);
    const published = herald ? Number(after.msgId) - Number(before.msgId) - 1 : undefined;
    process.stderr.write(`${name}: ${fmt(result.perSecond)} calls/s\n`);
    return { ...result, published };
  } finally {
    grpc.close();
    await server.stop();
  }
}

await requireH2load();
const redis = await RedisServer.start({ durable: false });
try {
  const echo = await measure("echo", () => startNode("dist/bench/echo-server.js", []), false);
  const embedded = await measure("embedded", () => startHeraldProcess([]), true);
  const withRedis = await measure("redis", () => startHeraldProcess(["--redis-url", redis.url]), true);
  const row = (name: string, r: Measured, target: string) => [
    name, fmt(r.perSecond), fmt(r.mean, 2), `${fmt((100 * r.perSecond) / echo.perSecond)}%`, target,
    r.published === undefined ? "-" : `${r.published}/${r.requests}`,
  ];
  process.stdout.write(
    `\nbench:grpc — unary SendEvent via h2load, ${requests} calls, ${clients} connections x ${streams} streams, ` +
      `Node ${process.version}, ${(await import("node:os")).cpus().length} cores\n\n` +
      table(["server", "calls/s", "mean ms", "vs echo", "target", "published"], [
        row("grpc-js echo (ceiling)", echo, ""),
        row("herald embedded", embedded, ">= 70%"),
        row("herald + redis", withRedis, ">= 50%"),
      ]) +
      "\n",
  );
} finally {
  await redis.destroy();
}
