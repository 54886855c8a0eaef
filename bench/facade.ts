import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { eventPushDocument } from "../test/support/contract-docs.js";
import { coreCost } from "./core-cost.js";
import {
  cpuMs,
  fmt,
  h2load,
  logPercentiles,
  median as middle,
  ProcGroup,
  report,
  requireH2load,
  roundsSummary,
  type H2loadResult,
  type Proc,
} from "./support.js";

/**
 * bench:facade — eventpushmessage requests/s and latency through Herald's facade (embedded core,
 * in-process client), XML and JSON, against a bare Koa route returning a fixed body (the ceiling)
 * and the same route after koa-bodyparser and saxes have read the body (the stack's floor). Each
 * server runs in its own process; h2load drives HTTP/1.1 keep-alive connections. Rows are measured
 * in turn, `BENCH_ROUNDS` times over; a ratio is taken within each round (against the same round's
 * ceiling: the machine's speed drifts) and the table shows the median ratio and the median rate.
 */
const requests = Number(process.env["BENCH_REQUESTS"] ?? 40_000);
const clients = Number(process.env["BENCH_CONNECTIONS"] ?? 32);
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3);
const dir = mkdtempSync(join(tmpdir(), "herald-bench-facade-"));
const doc = eventPushDocument("kpns");
const files = { xml: join(dir, "request.xml"), json: join(dir, "request.json") };
writeFileSync(files.xml, doc.xmlRequest);
writeFileSync(files.json, doc.jsonRequest);
const types = { xml: "text/xml;charset=UTF-8", json: "application/json;charset=UTF-8" };

interface Measured extends H2loadResult {
  p50: number;
  p99: number;
  /** CPU time (user + system) the server process spent per request, µs: moves much less than the rate with other load. */
  cpu: number;
}

interface Row {
  name: string;
  url: string;
  pid: number | undefined;
  format: "xml" | "json";
  target: string;
  results: Measured[];
}

const options = (format: "xml" | "json") => ({ clients, streams: 1, http1: { contentType: types[format] } });

async function measure(row: Row, round: number): Promise<void> {
  const logFile = join(dir, `${row.name.replace(/\W+/g, "-")}-${round}.log`);
  const cpuBefore = cpuMs(row.pid);
  const result = await h2load(row.url, files[row.format], { ...options(row.format), requests, logFile });
  const cpu = ((cpuMs(row.pid) - cpuBefore) * 1000) / result.requests;
  const [p50, p99] = logPercentiles(logFile, [50, 99]);
  process.stderr.write(`${row.name}: ${fmt(result.perSecond)} req/s, ${fmt(cpu)} µs CPU/req\n`);
  row.results.push({ ...result, p50: p50!, p99: p99!, cpu });
}

await requireH2load();
const procs = new ProcGroup();
try {
  const bare = await procs.node("dist/bench/koa-bare.js", []);
  const floor = await procs.node("dist/bench/koa-bare.js", ["kpns", "--parse"]);
  const herald = await procs.herald([]);
  const url = (p: Proc) => `http://127.0.0.1:${(p.ready["httpPort"] ?? p.ready["port"]) as number}/kpns/service/eventpushmessage`;
  const rows: Row[] = [
    { name: "bare Koa route, fixed body (ceiling)", url: url(bare), pid: bare.proc.pid, format: "xml", target: "", results: [] },
    { name: "same + koa-bodyparser + saxes (stack floor)", url: url(floor), pid: floor.proc.pid, format: "xml", target: "", results: [] },
    { name: "Herald XML eventpushmessage", url: url(herald), pid: herald.proc.pid, format: "xml", target: ">= 40%", results: [] },
    { name: "Herald JSON eventpushmessage", url: url(herald), pid: herald.proc.pid, format: "json", target: "", results: [] },
  ];
  for (const row of rows) await h2load(row.url, files[row.format], { ...options(row.format), requests: Math.ceil(requests / 4) }); // warm-up: JIT, connections
  for (let r = 0; r < rounds; r++) for (const row of rows) await measure(row, r);

  const ceiling = rows[0]!.results;
  report(
    `bench:facade — POST /kpns/service/eventpushmessage (the document's sample), h2load HTTP/1.1, ${requests} requests, ` +
      `${clients} connections, ${rounds} interleaved rounds: median rate, median of the per-round ratios; Node ${process.version}, ${cpus().length} cores\n` +
      `stack floor: the ceiling's route after reading the body with koa-bodyparser and parsing it with saxes, as ` +
      `the facade must; no Herald code\n` +
      `CPU µs/req: the server process's user + system time per request (/proc), median of the rounds; CPU vs bare: the ` +
      `ceiling's CPU per request over the row's, median of the per-round ratios (what the rate ratio would be on an idle machine ` +
      `where the server's core is the limit)`,
    ["server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "vs bare", "CPU vs bare", "target", "rounds req/s", "2xx"],
    rows.map((row) => {
      const { median, ratio, rates } = roundsSummary(row.results, ceiling);
      const ok = row.results.reduce((n, x) => n + x.succeeded, 0);
      const all = row.results.reduce((n, x) => n + x.requests, 0);
      const cpu = middle(row.results.map((x) => x.cpu));
      const cpuRatio = middle(row.results.map((x, r) => ceiling[r]!.cpu / x.cpu));
      return [
        row.name,
        fmt(median.perSecond),
        fmt(median.p50, 2),
        fmt(median.p99, 2),
        fmt(cpu, 1),
        ratio,
        `${fmt(100 * cpuRatio)}%`,
        row.target,
        rates,
        `${ok}/${all}`,
      ];
    }),
  );
  // The target's budget: the floor's CPU plus the core's, against the ceiling's.
  const core = await coreCost(rounds);
  const cpuOf = (row: Row) => middle(row.results.map((x) => x.cpu));
  const [ceilingCpu, floorCpu] = [cpuOf(rows[0]!), cpuOf(rows[1]!)];
  process.stdout.write(
    `\nthe core alone, in process (SendEvent through the in-process client, 32 in flight): ${fmt(core, 1)} µs CPU/call; ` +
      `stack floor + core = ${fmt(floorCpu + core, 1)} µs/req, ${fmt((100 * ceilingCpu) / (floorCpu + core))}% of bare by CPU: ` +
      `what Herald would reach with no facade code at all\n`,
  );
} finally {
  await procs.stop();
}
