import { Agent, request } from "node:http";
import { relative, resolve } from "node:path";
import { fmt, percentile, report, root, startNode, type Proc } from "./support.js";

/**
 * bench:abuse (tokens) — latency of a real client's POST /auth/token (one at a time, the right
 * secret) while an attacker on another local address (127.0.0.2) sends wrong secrets at
 * BENCH_ATTACK_RATE/s: for the real client's id, and for random client ids (which no per-id limit
 * sees). `BENCH_BEFORE_ROOT=<dir>` (a built copy of another commit) measures that Herald too.
 */
const seconds = Number(process.env["BENCH_SECONDS"] ?? 8);
const rate = Number(process.env["BENCH_ATTACK_RATE"] ?? 50);
const ADMIN = "bench-admin-token-0123456789";
const CLIENT = "shop-app";
const SECRET = "s3cret-of-the-bench";

function post(
  port: number,
  path: string,
  body: string,
  type: string,
  headers: Record<string, string>,
  agent: Agent | false,
  localAddress?: string,
): Promise<number> {
  return new Promise((done) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent,
        ...(localAddress ? { localAddress } : {}),
        headers: { "content-type": type, ...headers },
      },
      (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
        res.on("error", () => done(-1));
      },
    );
    req.on("error", () => done(-1));
    req.end(body);
  });
}

const form = (clientId: string, secret: string) =>
  new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }).toString();

async function measure(port: number, attack: "none" | "same id" | "random ids") {
  let stop = false;
  const attackStatuses = new Map<number, number>();
  const inflight: Array<Promise<void>> = [];
  const attacker = (async () => {
    if (attack === "none") return;
    const agent = new Agent({ keepAlive: true, maxSockets: 64, localAddress: "127.0.0.2" });
    const gapMs = 1000 / rate;
    const start = performance.now();
    for (let i = 0; !stop; i++) {
      const id = attack === "same id" ? CLIENT : `nobody-${i}`;
      inflight.push(
        post(port, "/auth/token", form(id, "wrong"), "application/x-www-form-urlencoded", {}, agent).then((s) => {
          attackStatuses.set(s, (attackStatuses.get(s) ?? 0) + 1);
        }),
      );
      const wait = start + (i + 1) * gapMs - performance.now(); // open loop: the attacker never waits for answers
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.all(inflight);
    agent.destroy();
  })();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    const s = await post(port, "/auth/token", form(CLIENT, SECRET), "application/x-www-form-urlencoded", {}, agent);
    latencies.push(performance.now() - t0);
    statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  stop = true;
  await attacker;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const show = (m: Map<number, number>) => [...m].map(([k, n]) => `${k === -1 ? "reset" : k}×${n}`).join(" ") || "-";
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), real: show(statuses), attacker: show(attackStatuses) };
}

async function startAt(dir: string): Promise<Proc> {
  const main = relative(root, resolve(dir, "dist/server/main.js"));
  return startNode(main, ["--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1"], {
    LOG_LEVEL: "",
    REDIS_URL: "",
    HERALD_ADMIN_KEY: ADMIN,
  });
}

async function setUp(port: number): Promise<void> {
  const admin = { authorization: `Bearer ${ADMIN}` };
  const json = (path: string, body: object) => post(port, path, JSON.stringify(body), "application/json", admin, false);
  for (const [path, body] of [
    ["/system", { id: "shop", name: "Shop" }],
    ["/client", { id: CLIENT, appId: "shop", name: "shop app", secret: SECRET }],
  ] as const) {
    const status = await json(path, body);
    if (status !== 200) throw new Error(`${path}: ${status}`);
  }
}

async function main(): Promise<void> {
  const builds: Array<[string, string]> = [["this build", root]];
  if (process.env["BENCH_BEFORE_ROOT"]) builds.unshift(["before", process.env["BENCH_BEFORE_ROOT"]]);
  const rows: Array<Array<string | number>> = [];
  for (const [label, dir] of builds) {
    for (const attack of ["none", "random ids", "same id"] as const) {
      // A fresh process each time: limits spent by one attack do not carry into the next.
      const herald = await startAt(dir);
      try {
        const port = herald.ready["httpPort"] as number;
        await setUp(port);
        const r = await measure(port, attack);
        rows.push([label, attack === "none" ? "none" : `${rate}/s, ${attack}`, fmt(r.p50, 0), fmt(r.p99, 0), r.real, r.attacker]);
      } finally {
        await herald.stop();
      }
    }
  }
  report(
    `POST /auth/token of a real client, one at a time for ${seconds} s, while an attacker (another address) sends wrong secrets; Herald embedded in its own process`,
    ["build", "attacker", "real p50 ms", "real p99 ms", "real statuses", "attacker statuses"],
    rows,
  );
}

await main();
