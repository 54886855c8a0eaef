import { Agent, request } from "node:http";
import { relative, resolve } from "node:path";
import { fmt, percentile, report, root, startNode, type Proc } from "./support.js";

/**
 * bench:abuse (bodies) — how one Herald process serves /healthz while 8 senders loop 1 MB abusive
 * bodies at the facade: XML nested 1 MB deep and 1 MB of flat `<a/>` elements (Kony eventpushmessage,
 * XMS eventhandlers), and JSON arrays nested 1 MB deep (Kony JSON). A prober asks /healthz one
 * request at a time; the table gives its p50/p99 and the status codes the senders got.
 * `BENCH_BEFORE_ROOT=<dir>` (a built copy of another commit) measures that Herald too, in the same run.
 */
const seconds = Number(process.env["BENCH_SECONDS"] ?? 8);
const senders = Number(process.env["BENCH_SENDERS"] ?? 8);
const ADMIN = "bench-admin-token-0123456789";
const MB = 1024 * 1024;

const fill = (unit: string, head = "", tail = "") => head + unit.repeat(Math.floor((MB - head.length - tail.length) / unit.length)) + tail;
const deepXml = Buffer.from(fill("<a>", "<event>"));
const flatXml = Buffer.from(fill("<a/>", "<event>", "</event>"));
const deepXmsXml = Buffer.from(fill("<a>", '<web_service version="1.0">'));
const deepJson = Buffer.from(fill("[", '{"event":'));

interface Target {
  name: string;
  path: string;
  type: string;
  body: Buffer;
}
const targets: Target[] = [
  { name: "Kony XML nested", path: "/kpns/service/eventpushmessage", type: "text/xml", body: deepXml },
  { name: "Kony XML flat", path: "/kpns/service/eventpushmessage", type: "text/xml", body: flatXml },
  { name: "XMS XML nested", path: "/eventhandlers?appid=demo", type: "application/xml", body: deepXmsXml },
  { name: "Kony JSON nested", path: "/kpns/service/eventpushmessage", type: "application/json", body: deepJson },
];

function send(port: number, agent: Agent, t: Target): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: t.path,
        method: t.body.length > 0 ? "POST" : "GET",
        agent,
        headers: { "content-type": t.type, "content-length": t.body.length, authorization: `Bearer ${ADMIN}` },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolveStatus(res.statusCode ?? 0));
        res.on("error", () => resolveStatus(-1));
      },
    );
    req.on("error", () => resolveStatus(-1)); // a reset: counted as "reset"
    req.end(t.body);
  });
}

async function healthz(port: number, agent: Agent): Promise<number> {
  const t0 = performance.now();
  await send(port, agent, { name: "healthz", path: "/healthz", type: "text/plain", body: Buffer.alloc(0) });
  return performance.now() - t0;
}

async function measure(
  port: number,
  target: Target | undefined,
): Promise<{ p50: number; p99: number; probes: number; statuses: string; sent: number }> {
  let stop = false;
  const statuses = new Map<string, number>();
  const loops = target
    ? Array.from({ length: senders }, async () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        while (!stop) {
          const s = await send(port, agent, target);
          const key = s === -1 ? "reset" : String(s);
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
        agent.destroy();
      })
    : [];
  const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await healthz(port, probeAgent); // connect first
  while (performance.now() < until) {
    latencies.push(await healthz(port, probeAgent));
    await new Promise((r) => setTimeout(r, 10)); // paced: ~100 probes/s at most
  }
  stop = true;
  await Promise.all(loops);
  probeAgent.destroy();
  latencies.sort((a, b) => a - b);
  const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    probes: latencies.length,
    statuses: [...statuses].map(([k, n]) => `${k}×${n}`).join(" ") || "-",
    sent,
  };
}

async function startAt(dir: string): Promise<Proc> {
  const main = relative(root, resolve(dir, "dist/server/main.js"));
  return startNode(main, ["--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", "--seed", resolve(root, "examples/seed.yaml")], {
    LOG_LEVEL: "",
    REDIS_URL: "",
    HERALD_ADMIN_KEY: ADMIN,
  });
}

async function main(): Promise<void> {
  const builds: Array<[string, string]> = [["this build", root]];
  if (process.env["BENCH_BEFORE_ROOT"]) builds.unshift(["before", process.env["BENCH_BEFORE_ROOT"]]);
  const rows: Array<Array<string | number>> = [];
  for (const [label, dir] of builds) {
    const herald = await startAt(dir);
    try {
      const port = herald.ready["httpPort"] as number;
      for (const target of [undefined, ...targets]) {
        const r = await measure(port, target);
        rows.push([
          label,
          target?.name ?? "idle (no senders)",
          fmt(r.p50, 1),
          fmt(r.p99, 1),
          r.probes,
          fmt(r.sent / seconds, 1),
          r.statuses,
        ]);
      }
    } finally {
      await herald.stop();
    }
  }
  report(
    `/healthz latency (ms) while ${senders} senders loop 1 MB abusive bodies, ${seconds} s each; Herald embedded in its own process`,
    ["build", "senders send", "healthz p50", "healthz p99", "probes", "bodies/s", "sender statuses"],
    rows,
  );
}

await main();
