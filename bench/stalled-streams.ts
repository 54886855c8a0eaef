import { execFile, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchEventsRequestSchema } from "../core/gen/herald/v1/hub_pb.js";
import { RedisServer } from "../test/support/redis-server.js";
import { fmt, report, root } from "./support.js";

/**
 * bench:stalled — streams whose readers never read. A server process (embedded, or on Redis) is
 * given N WatchEvents streams over raw HTTP/2 sockets that stop reading (a 16 KB stream window,
 * streams paused: nothing read, no window update), then events are published to all of them; the
 * server's own RSS growth is measured in that process (the clients' memory is not counted), and the
 * streams it ended as SLOW_CONSUMER are counted (its fan-out's `ended` moments).
 *
 * Each case runs on this build ("after") and on the build of BENCH_BEFORE (a git ref, by default
 * the merge base with main), built in a temporary copy with this checkout's node_modules.
 *
 *   npm run bench:stalled                    both builds, every case
 *   BENCH_BEFORE=none npm run bench:stalled  this build only
 *   BENCH_CASES=Connect,Redis                only the cases whose name has one of these
 */

const here = fileURLToPath(import.meta.url);
const run = promisify(execFile);

interface Case {
  name: string;
  streams: number;
  events: number;
  size: number;
  /** --watch-queue-bytes; undefined: the default. */
  queueBytes?: number;
  redis?: boolean;
  /** Connect protocol over HTTP/1.1 on the HTTP port (connect-node), a socket a stream; default gRPC. */
  connect?: boolean;
}

interface Measure {
  rss: number;
  heap: number;
  external: number;
  watchers: number;
  slow: number;
}

type Reply = Measure & { id: number; grpcPort?: number; httpPort?: number };

/** The server side: a Herald of the build in `dist`, told what to do over IPC. */
async function serve(dist: string, options: { queueBytes?: number; redisUrl?: string }): Promise<void> {
  const { startHerald } = (await import(join(dist, "server/start-herald.js"))) as typeof import("../server/start-herald.js");
  const { silentLogger } = (await import(join(dist, "core/logger.js"))) as typeof import("../core/logger.js");
  const { HubService } = (await import(join(dist, "core/gen/herald/v1/hub_pb.js"))) as typeof import("../core/gen/herald/v1/hub_pb.js");
  const herald = await startHerald(
    {
      server: { host: "127.0.0.1", grpcPort: 0, httpPort: 0, seedFile: join(root, "examples/seed.yaml"), shutdownGraceMs: 100 },
      limits: { maxContentBytes: 8 * 1024 * 1024, maxMessageBytes: 16 * 1024 * 1024 },
      watch: options.queueBytes === undefined ? {} : { queueBytes: options.queueBytes },
      ...(options.redisUrl ? { redis: { url: options.redisUrl, keyPrefix: `stalled${process.pid}:` } } : {}),
    },
    silentLogger,
  );
  let slow = 0;
  herald.fanOut.on("ended", (_app, kind) => {
    if (kind === "slow") slow++;
  });
  const hub = herald.inProcess(HubService);
  const measure = async (): Promise<Measure> => {
    // Let the streams take what fan-out handed them, then count only what is still referenced.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await delay(300);
    globalThis.gc?.();
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed, external: m.external, watchers: herald.fanOut.watcherCount, slow };
  };
  process.on("message", async (msg: { id: number; cmd: string; events?: number; size?: number }) => {
    if (msg.cmd === "publish") {
      for (let i = 0; i < (msg.events ?? 0); i++) {
        await hub.sendPush({ appId: "demo", allActive: true, content: { data: String(i % 10).repeat(msg.size ?? 0) } });
      }
    }
    if (msg.cmd === "stop") {
      await herald.close();
      process.exit(0);
    }
    process.send?.({ id: msg.id, ...(await measure()) });
  });
  process.send?.({ id: 0, grpcPort: herald.grpcPort, httpPort: herald.httpPort, ...(await measure()) });
}

/** A server process and a way to ask it things. */
class Server {
  private next = 1;
  private constructor(
    private readonly child: ChildProcess,
    readonly grpcPort: number,
    readonly httpPort: number,
  ) {}

  static async start(dist: string, c: Case, redisUrl: string | undefined): Promise<Server> {
    const args = ["--serve", dist, JSON.stringify({ queueBytes: c.queueBytes, redisUrl })];
    const child = fork(here, args, { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [ready] = (await once(child, "message")) as [Reply];
    return new Server(child, ready.grpcPort ?? 0, ready.httpPort ?? 0);
  }

  async ask(cmd: string, extra: object = {}): Promise<Measure> {
    const id = this.next++;
    this.child.send({ id, cmd, ...extra });
    for (;;) {
      const [reply] = (await once(this.child, "message")) as [Reply];
      if (reply.id === id) return reply;
    }
  }

  async stop(): Promise<void> {
    const exited = once(this.child, "exit");
    this.child.send({ id: 0, cmd: "stop" });
    await exited;
  }
}

function watchFrame(): Buffer {
  const body = toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, { appId: "demo" }));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

/** WatchEvents of app demo over Connect (HTTP/1.1), a socket each, whose responses are never read. */
function stalledConnect(port: number, n: number): Array<{ destroy(): void }> {
  const frame = watchFrame();
  return Array.from({ length: n }, () => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/herald.v1.HubService/WatchEvents",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      agent: false,
    });
    req.on("error", () => undefined);
    req.on("response", (res) => res.pause());
    req.end(frame);
    return req;
  });
}

/** WatchEvents of app demo on `n` streams, `perConnection` to a socket, none of which is ever read. */
function stalledStreams(port: number, n: number, perConnection: number): http2.ClientHttp2Session[] {
  const frame = watchFrame();
  const sessions: http2.ClientHttp2Session[] = [];
  for (let i = 0; i < n; i += perConnection) {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * 1024 } });
    session.on("error", () => undefined);
    sessions.push(session);
    for (let j = i; j < Math.min(n, i + perConnection); j++) {
      const stream = session.request({
        ":method": "POST",
        ":path": "/herald.v1.HubService/WatchEvents",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => undefined);
      stream.end(frame);
      // Never read: once the stream's buffer is full, Node stops consuming, so no window update.
      stream.pause();
    }
  }
  return sessions;
}

async function runCase(dist: string, c: Case): Promise<{ base: Measure; after: Measure }> {
  const redis = c.redis ? await RedisServer.start({ durable: false }) : undefined;
  const server = await Server.start(dist, c, redis?.url);
  let sessions: Array<{ destroy(): void }> = [];
  try {
    sessions = c.connect ? stalledConnect(server.httpPort, c.streams) : stalledStreams(server.grpcPort, c.streams, 10);
    let base = await server.ask("measure");
    for (let tries = 0; base.watchers < c.streams && tries < 100; tries++) base = await server.ask("measure");
    if (base.watchers < c.streams) throw new Error(`only ${base.watchers} of ${c.streams} watchers live`);
    const after = await server.ask("publish", { events: c.events, size: c.size });
    return { base, after };
  } finally {
    for (const s of sessions) s.destroy();
    await server.stop();
    await redis?.destroy();
  }
}

/** Builds `ref` in a temporary copy of the repository; returns its dist folder. */
async function buildRef(ref: string): Promise<{ dist: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "herald-before-"));
  await run("sh", ["-c", `git -C "${root}" archive "${ref}" | tar -x -C "${dir}"`]);
  await symlink(join(root, "node_modules"), join(dir, "node_modules"));
  await run("npx", ["buf", "generate"], { cwd: dir });
  await run("npx", ["tsc", "-p", "tsconfig.json"], { cwd: dir });
  return { dist: join(dir, "dist"), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const cases: Case[] = [
    { name: "500 × 4 × 900 KB", streams: 500, events: 4, size: 900 * 1024 },
    { name: "500 × 4 × 900 KB, --watch-queue-bytes 2 MB", streams: 500, events: 4, size: 900 * 1024, queueBytes: 2 * MB },
    { name: "500 × 4 × 900 KB, Redis", streams: 500, events: 4, size: 900 * 1024, redis: true },
    { name: "1,000 × 1 × 1.9 MB", streams: 1000, events: 1, size: Math.round(1.9 * MB) },
    { name: "500 × 4 × 900 KB, Connect (HTTP/1.1)", streams: 500, events: 4, size: 900 * 1024, connect: true },
  ];
  const only = process.env["BENCH_CASES"];
  if (only) cases.splice(0, cases.length, ...cases.filter((c) => only.split(",").some((w) => c.name.includes(w))));
  let beforeRef = process.env["BENCH_BEFORE"];
  if (beforeRef === undefined) beforeRef = (await run("git", ["-C", root, "merge-base", "HEAD", "main"])).stdout.trim();
  const builds: Array<{ label: string; dist: string }> = [{ label: "after", dist: join(root, "dist") }];
  let cleanup: (() => Promise<void>) | undefined;
  if (beforeRef !== "none") {
    process.stderr.write(`building ${beforeRef} (before) in a temporary copy…\n`);
    const built = await buildRef(beforeRef);
    cleanup = built.cleanup;
    builds.unshift({ label: `before (${beforeRef.slice(0, 7)})`, dist: built.dist });
  }
  const rows: Array<Array<string | number>> = [];
  if (cases.length === 0) throw new Error(`BENCH_CASES=${only}: no case`);
  try {
    for (const c of cases) {
      for (const b of builds) {
        const { base, after } = await runCase(b.dist, c);
        process.stderr.write(`${c.name} ${b.label}: +${fmt((after.rss - base.rss) / MB)} MB\n`);
        rows.push([
          c.name,
          b.label,
          fmt(base.rss / MB),
          fmt((after.rss - base.rss) / MB),
          fmt((after.external - base.external) / MB),
          `${after.slow} / ${c.streams}`,
        ]);
      }
    }
  } finally {
    await cleanup?.();
  }
  report(
    `bench:stalled — server RSS growth when every stream stops reading (streams × events × size; 10 streams a connection, 16 KB stream window; measured in the server process after GC)`,
    ["case", "build", "RSS with streams open (MB)", "RSS growth (MB)", "external growth (MB)", "ended SLOW_CONSUMER"],
    rows,
  );
}

if (process.argv[2] === "--serve") {
  await serve(process.argv[3] ?? join(root, "dist"), JSON.parse(process.argv[4] ?? "{}") as { queueBytes?: number; redisUrl?: string });
} else {
  await main();
}
