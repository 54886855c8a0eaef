import { RedisServer } from "../test/support/redis-server.js";
import { rawClients, unary } from "../test/support/grpc-client.js";
import { fmt, grpcFrameFile, h2load, ProcGroup, report, requireH2load, roundsSummary, type H2loadResult, type Proc } from "./support.js";

/**
 * bench:grpc — unary SendEvent calls/s through Herald against a bare grpc-js echo server, in one
 * run on this machine. Each server runs in its own process; h2load drives it. The servers are
 * measured in turn, `BENCH_ROUNDS` times over: the machine's speed drifts, so a ratio is taken
 * within each round (against the echo of the same round) and the table shows the median ratio, with
 * the rate of the median round.
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

interface Server {
  name: string;
  port: number;
  herald: boolean;
  results: Measured[];
}

interface Measured extends H2loadResult {
  /** Calls Herald really published (from its msg id counter); h2load sees only HTTP status. */
  published: number | undefined;
}

const procs = new ProcGroup();

async function start(name: string, proc: Promise<Proc>, herald: boolean): Promise<Server> {
  const p = await proc; // in `procs` already: stopped at the end, also if it fails below
  const port = (p.ready["grpcPort"] ?? p.ready["port"]) as number;
  const grpc = rawClients(port);
  try {
    await unary(grpc.hub, "sendEvent", probe); // it works before it is measured
  } finally {
    grpc.close();
  }
  // Warm up (JIT, connections) before the first round.
  await h2load(`http://127.0.0.1:${port}/herald.v1.HubService/SendEvent`, body, { requests: Math.ceil(requests / 10), clients, streams });
  return { name, port, herald, results: [] };
}

async function measure(s: Server): Promise<void> {
  const grpc = rawClients(s.port);
  try {
    const before = s.herald ? await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe) : undefined;
    const result = await h2load(`http://127.0.0.1:${s.port}/herald.v1.HubService/SendEvent`, body, { requests, clients, streams });
    const after = s.herald ? await unary<{ msgId: string }>(grpc.hub, "sendEvent", probe) : undefined;
    const published = before && after ? Number(after.msgId) - Number(before.msgId) - 1 : undefined;
    process.stderr.write(`${s.name}: ${fmt(result.perSecond)} calls/s\n`);
    s.results.push({ ...result, published });
  } finally {
    grpc.close();
  }
}

await requireH2load();
const redis = await RedisServer.start({ durable: false });
const servers: Server[] = [];
try {
  servers.push(await start("grpc-js echo (ceiling)", procs.node("dist/bench/echo-server.js", []), false));
  servers.push(await start("herald's grpc server, no-op handler", procs.node("dist/bench/bridge-echo.js", []), false));
  servers.push(await start("herald embedded", procs.herald([]), true));
  servers.push(await start("herald + redis", procs.herald(["--redis-url", redis.url]), true));
  for (let r = 0; r < rounds; r++) for (const s of servers) await measure(s);

  const echo = servers[0]!.results;
  const targets = ["", "", ">= 70%", ">= 50%"];
  report(
    `bench:grpc — unary SendEvent via h2load, ${requests} calls, ${clients} connections x ${streams} streams, ` +
      `${rounds} interleaved rounds: median rate, median of the per-round ratios; Node ${process.version}, ${(await import("node:os")).cpus().length} cores`,
    ["server", "calls/s", "mean ms", "vs echo", "target", "rounds calls/s", "published"],
    servers.map((s, i) => {
      const { median, ratio, rates } = roundsSummary(s.results, echo);
      const published = s.results.every((x) => x.published === undefined)
        ? "-"
        : `${s.results.reduce((n, x) => n + (x.published ?? 0), 0)}/${s.results.reduce((n, x) => n + x.requests, 0)}`;
      return [s.name, fmt(median.perSecond), fmt(median.mean, 2), ratio, targets[i]!, rates, published];
    }),
  );
} finally {
  await procs.stop();
  await redis.destroy();
}
