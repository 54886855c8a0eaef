import { spawn } from "node:child_process";
import { createServer, request, type ServerResponse } from "node:http";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startHerald } from "../server/start-herald.js";
import { silentLogger } from "../core/logger.js";
import { root } from "./support.js";

/**
 * bench:xms — memory per idle XMS event stream, and the time for one event to reach all of them,
 * against the floor: a bare node:http server holding the same number of idle chunked responses.
 * Clients run in a child process so that only the server's memory is counted. Run with
 * --expose-gc (the npm script does) so that heap figures are taken after a full collection.
 */
const { values } = parseArgs({ options: { streams: { type: "string", default: "2000" } } });
const streams = Number(values.streams);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

interface Row {
  server: string;
  heapKiB: number;
  rssKiB: number;
  fanMs: number;
}

function memory(): { heap: number; rss: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** Opens the streams from a child process; resolves with a function that publishes and waits for all to receive. */
async function openClients(urls: string[]) {
  const child = spawn(process.execPath, [join(root, "dist/bench/xms-clients.js")], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const messages: Array<Record<string, number>> = [];
  let wake: (() => void) | undefined;
  lines.on("line", (line) => {
    messages.push(JSON.parse(line) as Record<string, number>);
    wake?.();
  });
  const next = async (key: string) => {
    for (;;) {
      const found = messages.find((m) => key in m);
      if (found) return found;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  child.stdin.write(`${urls.join("\n")}\n\n`);
  await next("open");
  return {
    async publish(send: () => Promise<void> | void): Promise<number> {
      child.stdin.write("publish\n");
      const started = performance.now();
      await send();
      await next("received");
      return performance.now() - started;
    },
    async close(): Promise<void> {
      const exited = once(child, "exit");
      child.stdin.write("exit\n");
      await exited;
    },
  };
}

async function bare(): Promise<Row> {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/xml" });
    res.flushHeaders();
    open.add(res);
    res.on("close", () => open.delete(res));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const before = memory();
  const clients = await openClients(Array.from({ length: streams }, (_, i) => `http://127.0.0.1:${port}/s/${i}`));
  while (open.size < streams) await new Promise((r) => setImmediate(r));
  const after = memory();
  const frame = Buffer.from(
    `5e\r\n<web_service version="1.0">\n<event type="x">\n<event_data name="a" value="b"/>\n</event>\n</web_service>\n`,
  );
  const fanMs = await clients.publish(() => {
    for (const res of open) res.write(frame);
  });
  await clients.close();
  for (const res of open) res.destroy();
  server.close();
  return row("bare node:http, idle chunked responses (floor)", before, after, fanMs);
}

async function herald(): Promise<Row> {
  const h = await startHerald(
    {
      server: { host: "127.0.0.1", grpcPort: 0, httpPort: 0, seedFile: join(root, "examples/seed.yaml") },
      limits: { maxHandlersPerApp: streams },
    },
    silentLogger,
  );
  const base = `http://127.0.0.1:${h.httpPort}`;
  const ids: string[] = [];
  for (let i = 0; i < streams; i += 100) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(100, streams - i) }, () => createHandler(base)))));
  }
  const before = memory();
  const clients = await openClients(ids.map((id) => `${base}/default/eventhandlers/${id}?appid=demo`));
  while (h.fanOut.watcherCount < streams) await new Promise((r) => setImmediate(r));
  const after = memory();
  // An XMS-typed event (a Kony event, typed only by its id, is not for XMS streams), sent over Connect.
  const body = JSON.stringify({
    appId: "demo",
    eventId: "1",
    type: "incoming",
    resourceType: "call",
    resourceId: "c1",
    namePairs: [{ name: "lastname", content: "Smith" }],
  });
  const fanMs = await clients.publish(async () => {
    const status = await httpStatus(`${base}/herald.v1.HubService/SendEvent`, "POST", body, "application/json");
    if (status !== 200) throw new Error(`SendEvent answered ${status}`);
  });
  await clients.close();
  await h.close();
  return row("Herald XMS handler streams (embedded)", before, after, fanMs);
}

function row(server: string, before: { heap: number; rss: number }, after: { heap: number; rss: number }, fanMs: number): Row {
  return { server, heapKiB: (after.heap - before.heap) / streams / 1024, rssKiB: (after.rss - before.rss) / streams / 1024, fanMs };
}

async function createHandler(base: string): Promise<string> {
  const body = `<web_service version="1.0"><eventhandler><eventsubscribe type="any"/></eventhandler></web_service>`;
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${base}/eventhandlers?appid=demo`, { method: "POST", headers: { "content-type": "application/xml" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on("error", reject);
    req.end(body);
  });
  const id = /identifier="([^"]+)"/.exec(text)?.[1];
  if (!id) throw new Error(`no handler created: ${text}`);
  return id;
}

function httpStatus(url: string, method: string, body: string, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { "content-type": contentType } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const rows = [await bare(), await herald()];
const floor = rows[0]!;
console.log(`\nbench:xms — ${streams} idle streams held by one process; clients in another process\n`);
console.log("| server | heap / stream | RSS / stream | heap vs floor | one event to all streams |");
console.log("|---|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.server} | ${r.heapKiB.toFixed(1)} KiB | ${r.rssKiB.toFixed(1)} KiB | ${(r.heapKiB / floor.heapKiB).toFixed(1)}x | ${r.fanMs.toFixed(1)} ms |`,
  );
}
