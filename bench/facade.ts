import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { eventPushDocument } from "../test/support/contract-docs.js";
import { fmt, h2load, logPercentiles, requireH2load, startHeraldProcess, startNode, table, type H2loadResult, type Proc } from "./support.js";

/**
 * bench:facade — eventpushmessage requests/s and latency through Herald's facade (embedded core,
 * in-process client), XML and JSON, against a bare Koa route returning a fixed body, in one run.
 * Each server runs in its own process; h2load drives HTTP/1.1 keep-alive connections.
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 40_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const dir = mkdtempSync(join(tmpdir(), "herald-bench-facade-"));
const doc = eventPushDocument("kpns");
const files = { xml: join(dir, "request.xml"), json: join(dir, "request.json") };
writeFileSync(files.xml, doc.xmlRequest);
writeFileSync(files.json, doc.jsonRequest);
const types = { xml: "text/xml;charset=UTF-8", json: "application/json;charset=UTF-8" };

interface Measured extends H2loadResult {
  p50: number;
  p99: number;
}

async function measure(name: string, server: Proc, format: "xml" | "json"): Promise<Measured> {
  const port = (server.ready["httpPort"] ?? server.ready["port"]) as number;
  const url = `http://127.0.0.1:${port}/kpns/service/eventpushmessage`;
  const options = { clients, streams: 1, http1: { contentType: types[format] } };
  await h2load(url, files[format], { ...options, requests: Math.ceil(requests / 4) }); // warm-up: JIT, connections
  const logFile = join(dir, `${name.replace(/\W+/g, "-")}.log`);
  const result = await h2load(url, files[format], { ...options, requests, logFile });
  const [p50, p99] = logPercentiles(logFile, [50, 99]);
  process.stderr.write(`${name}: ${fmt(result.perSecond)} req/s\n`);
  return { ...result, p50: p50!, p99: p99! };
}

await requireH2load();
const bare = await startNode("dist/bench/koa-bare.js", []);
let ceiling: Measured;
try {
  ceiling = await measure("bare koa", bare, "xml");
} finally {
  await bare.stop();
}
const herald = await startHeraldProcess([]);
let xml: Measured;
let json: Measured;
try {
  xml = await measure("herald xml", herald, "xml");
  json = await measure("herald json", herald, "json");
} finally {
  await herald.stop();
}
const row = (name: string, r: Measured, target: string) => [
  name, fmt(r.perSecond), fmt(r.p50, 2), fmt(r.p99, 2), `${fmt((100 * r.perSecond) / ceiling.perSecond)}%`, target, `${r.succeeded}/${r.requests}`,
];
process.stdout.write(
  `\nbench:facade — POST /kpns/service/eventpushmessage (the document's sample), h2load HTTP/1.1, ${requests} requests, ` +
    `${clients} connections, Node ${process.version}, ${cpus().length} cores\n\n` +
    table(["server", "req/s", "p50 ms", "p99 ms", "vs bare", "target", "2xx"], [
      row("bare Koa route, fixed body (ceiling)", ceiling, ""),
      row("Herald XML eventpushmessage", xml, ">= 40%"),
      row("Herald JSON eventpushmessage", json, ""),
    ]) + "\n",
);
