import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");

export interface Proc {
  proc: ChildProcess;
  /** The first JSON log line carrying `grpcPort` (Herald) or `port` (helpers). */
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * Runs a node script of this repo in its own process (its own core) and waits for its ready line.
 * `nodeArgs` go to node before the script (e.g. `--expose-gc`).
 */
export async function startNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Proc> {
  const [command, ...argv] = pinned("server", [process.execPath, ...nodeArgs, join(root, script), ...args]);
  const proc = spawn(command as string, argv, {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const lines = createInterface({ input: proc.stdout! });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry["grpcPort"] === "number" || typeof entry["port"] === "number") resolve(entry);
      } catch {
        // not a log line
      }
    });
    proc.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    proc,
    ready,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A client process of a bench (a node script of this repo), driven over its IPC channel: it is sent
 * `{config}` first, then whatever the bench and the script agree on.
 */
export class IpcChild {
  private readonly messages: Array<Record<string, unknown>> = [];
  private wake: (() => void) | undefined;
  readonly exited: Promise<unknown>;
  private constructor(
    readonly script: string,
    readonly proc: ChildProcess,
  ) {
    proc.on("message", (m) => {
      this.messages.push(m as Record<string, unknown>);
      this.wake?.();
    });
    this.exited = once(proc, "exit");
  }

  /** Starts `script` (pinned as a load generator with BENCH_PIN) and sends it `{config}`. */
  static start<C>(script: string, config: C): IpcChild {
    const [command, ...args] = pinned("load", [process.execPath, join(root, script)]);
    const child = new IpcChild(script, spawn(command!, args, { cwd: root, stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    child.send({ config });
    return child;
  }

  send(message: object): void {
    if (this.proc.connected) this.proc.send(message);
  }

  /** The value of the first message with `key`; fails if the process exits first or `ms` pass. */
  next<T = unknown>(key: string, ms = 30_000): Promise<T> {
    return this.first<T>(key, ms, false);
  }

  /** As next(), and the message is used up: the next call waits for another one (a step repeated). */
  take<T = unknown>(key: string, ms = 30_000): Promise<T> {
    return this.first<T>(key, ms, true);
  }

  private async first<T>(key: string, ms: number, remove: boolean): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const at = this.messages.findIndex((m) => key in m);
      if (at >= 0) return (remove ? this.messages.splice(at, 1)[0]! : this.messages[at]!)[key] as T;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`${this.script} exited (${this.proc.exitCode ?? this.proc.signalCode}) before "${key}"`);
      }
      if (Date.now() > deadline) throw new Error(`${this.script}: no "${key}" within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200).unref();
      });
    }
  }

  /** A message with `key` already received, if any. */
  peek<T = unknown>(key: string): T | undefined {
    return this.messages.find((m) => key in m)?.[key] as T | undefined;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    await this.exited;
  }
}

/** The processes a bench starts, stopped together at its end (also when it fails part way). */
export class ProcGroup {
  private readonly procs: Proc[] = [];

  /** Like startNode; the process joins the group as soon as it is ready. */
  node(script: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Proc> {
    return this.add(startNode(script, args, env, nodeArgs));
  }

  /** Like startHeraldProcess; the process joins the group as soon as it is ready. */
  herald(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Proc> {
    return this.add(startHeraldProcess(args, env, nodeArgs));
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }

  private async add(starting: Promise<Proc>): Promise<Proc> {
    const proc = await starting;
    this.procs.push(proc);
    return proc;
  }
}

export function startHeraldProcess(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Proc> {
  return startNode(
    "dist/server/main.js",
    ["--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", "--seed", "examples/seed.yaml", ...args],
    { LOG_LEVEL: "", REDIS_URL: "", ...env },
    nodeArgs,
  );
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The middle value (the lower one of an even count): always one of the values. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Of rounds measured in turn: the round with the median rate. */
export function medianRound<T extends { perSecond: number }>(rounds: T[]): T {
  const rate = median(rounds.map((m) => m.perSecond));
  return rounds.find((m) => m.perSecond === rate)!;
}

/**
 * The median of the per-round ratios of `rounds` to `ceiling` (the same rounds of the reference):
 * the machine's speed drifts during a run, so rates are compared within a round only.
 */
export function medianRatio(rounds: Array<{ perSecond: number }>, ceiling: Array<{ perSecond: number }>): number {
  return median(rounds.map((m, r) => m.perSecond / ceiling[r]!.perSecond));
}

/**
 * The columns of a row measured in interleaved rounds: its median round, the median of its per-round
 * ratios to the ceiling's same rounds (as a percentage) and every round's rate, in order.
 */
export function roundsSummary<T extends { perSecond: number }>(results: T[], ceiling: Array<{ perSecond: number }>) {
  return {
    median: medianRound(results),
    ratio: `${fmt(100 * medianRatio(results, ceiling))}%`,
    rates: results.map((x) => fmt(x.perSecond)).join(" "),
  };
}

export interface LoadResult {
  calls: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * Closed-loop load: `concurrency` callers, each issuing the next call when the last returns, for
 * `seconds` after `warmup` seconds. Latency in milliseconds.
 */
export async function closedLoop(
  call: () => Promise<unknown>,
  options: { concurrency: number; warmup: number; seconds: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let measuring = false;
  let stop = false;
  let calls = 0;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      await call();
      if (measuring) {
        latencies.push(performance.now() - t0);
        calls++;
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  await new Promise((r) => setTimeout(r, options.warmup * 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return { calls, seconds, perSecond: calls / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Prints a table with aligned columns. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  return [
    line(headers),
    "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|") + "|",
    ...cells.slice(1).map(line),
  ].join("\n");
}

/** Writes a bench's result to stdout: its heading (what was measured, how, on what), then the table. */
export function report(heading: string, headers: string[], rows: Array<Array<string | number>>): void {
  process.stdout.write(`\n${heading}\n\n${table(headers, rows)}\n`);
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { SendEventRequestSchema } from "../core/gen/herald/v1/hub_pb.js";

/**
 * The load generator is h2load (nghttp2, in C): measured here, a grpc-js client saturates its own
 * core at ~3k calls/s, below what the servers do, so it would measure itself.
 */
export async function requireH2load(): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => execFile("h2load", ["--version"], (e) => (e ? reject(e) : resolve())));
  } catch {
    process.stderr.write("bench needs h2load (Debian/Ubuntu: apt-get install nghttp2-client)\n");
    process.exit(2);
  }
}

/** A SendEvent request as a gRPC length-prefixed frame in a file, for h2load -d. */
export function grpcFrameFile(request: MessageInitShape<typeof SendEventRequestSchema>): string;
export function grpcFrameFile<D extends DescMessage>(request: MessageInitShape<D>, schema: D): string;
export function grpcFrameFile(request: MessageInitShape<DescMessage>, schema: DescMessage = SendEventRequestSchema): string {
  const msg = toBinary(schema, create(schema, request));
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  Buffer.from(msg).copy(frame, 5);
  const file = join(mkdtempSync(join(tmpdir(), "herald-bench-")), "request.bin");
  writeFileSync(file, frame);
  return file;
}

export interface H2loadResult {
  requests: number;
  succeeded: number;
  seconds: number;
  perSecond: number;
  /** Mean and spread of request time, ms, as h2load reports them. */
  mean: number;
  max: number;
}

/** Runs h2load against a unary gRPC method; `requests` calls, `clients` connections × `streams` each. */
export function h2load(
  url: string,
  body: string,
  options: {
    requests: number;
    clients: number;
    streams: number;
    rps?: number;
    http1?: { contentType: string };
    logFile?: string;
    /** More request headers, `name: value` each (h2load -H), e.g. `authorization: Bearer …`. */
    headers?: string[];
  },
): Promise<H2loadResult> {
  const headers = [
    ...(options.http1
      ? ["--h1", "-H", `content-type: ${options.http1.contentType}`]
      : ["-H", "content-type: application/grpc", "-H", "te: trailers"]),
    ...(options.headers ?? []).flatMap((h) => ["-H", h]),
  ];
  const args = [
    ...(options.rps ? [`--rps=${options.rps}`] : []),
    ...(options.logFile ? [`--log-file=${options.logFile}`] : []),
    "-n",
    String(options.requests),
    "-c",
    String(options.clients),
    "-m",
    String(options.streams),
    "-d",
    body,
    ...headers,
    url,
  ];
  return new Promise((resolve, reject) =>
    execFile(...pinnedExec(["h2load", ...args]), { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(err);
      const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(stdout);
      const done = /requests: (\d+) total.* (\d+) succeeded/.exec(stdout);
      const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout);
      if (!finished || !done || !time) return reject(new Error(`cannot read h2load output:\n${stdout}`));
      const ms = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
      const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
      resolve({
        requests: Number(done[1]),
        succeeded: Number(done[2]),
        seconds,
        perSecond: Number(finished[3]),
        mean: ms(time[5]!, time[6]!),
        max: ms(time[3]!, time[4]!),
      });
    }),
  );
}

/** Latency percentiles (ms) from an h2load --log-file (start µs, status, duration µs per request). */
export function logPercentiles(file: string, ps: number[]): number[] {
  const durations = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => Number(l.split("\t")[2]) / 1000)
    .sort((a, b) => a - b);
  return ps.map((p) => percentile(durations, p));
}

/**
 * BENCH_PIN=1 (Linux, 2+ cores): the load generator runs on CPU 0 and the servers on CPU 1
 * (`taskset`), so that they do not take turns on one core. Without it the ratio of two servers
 * measured in turn moves by tens of percent between rounds on a small machine.
 */
export function pinned(role: "server" | "load", command: string[]): string[] {
  const profiled = profiling(command);
  if (!process.env["BENCH_PIN"]) return profiled;
  return ["taskset", "-c", role === "server" ? "1" : "0", ...profiled];
}

/**
 * With `BENCH_PROFILE=<dir>`, every node process a bench starts writes a V8 CPU profile there when
 * it exits (`node --cpu-prof`), named by its pid: open them in Chrome DevTools, or sum their self
 * times with `node dist/bench/profile-top.js <dir>/*.cpuprofile`.
 */
function profiling(command: string[]): string[] {
  const dir = process.env["BENCH_PROFILE"];
  if (!dir || command[0] !== process.execPath) return command;
  return [command[0], "--cpu-prof", `--cpu-prof-dir=${dir}`, ...command.slice(1)];
}

function pinnedExec(command: string[]): [string, string[]] {
  const [file, ...args] = pinned("load", command);
  return [file as string, args];
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, ms) a process has used so far; NaN where /proc is not there (Linux only). */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "(comm) ": field 3 on; utime and stime are fields 14 and 15, in clock ticks.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}
