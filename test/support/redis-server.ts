import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { freePort } from "./free-port.js";

export interface RedisServerOptions {
  /** Persist with AOF and `appendfsync always`, as a durable deployment would. Default true. */
  durable?: boolean;
  /** More arguments for redis-server, after Herald's (e.g. `--cluster-enabled yes`). */
  args?: readonly string[];
  /**
   * Run as a Sentinel (`redis-server <dir>/sentinel.conf --sentinel`) with these lines of
   * configuration; `port`, `bind` and `dir` are written by the server itself.
   */
  sentinel?: readonly string[];
}

/**
 * A real `redis-server` process on a free port, in its own temp dir. It can be stopped and restarted
 * on the same port with the same data, to test reconnection and recovery.
 */
export class RedisServer {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly durable: boolean,
    private readonly extraArgs: readonly string[] = [],
    private readonly sentinel: readonly string[] | undefined = undefined,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), "herald-redis-"));
    const server = new RedisServer(await freePort(), dir, options.durable ?? true, options.args ?? [], options.sentinel);
    await server.restart();
    return server;
  }

  /** `127.0.0.1:<port>`, as Cluster and Sentinel configurations name a node. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs (benches read its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Starts the process (again) and resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.proc) throw new Error("redis-server is already running");
    const base = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      this.dir,
      "--save",
      "",
      "--appendonly",
      this.durable ? "yes" : "no",
      "--appendfsync",
      "always",
      "--loglevel",
      "notice",
      "--logfile",
      "",
    ];
    let args = [...base, ...this.extraArgs];
    if (this.sentinel) {
      // A Sentinel rewrites its file (what it learns of the set), so it starts from one it may write.
      const file = join(this.dir, "sentinel.conf");
      if (!existsSync(file)) {
        const lines = [`port ${this.port}`, "bind 127.0.0.1", `dir ${this.dir}`, ...this.sentinel];
        await writeFile(file, `${lines.join("\n")}\n`);
      }
      args = [file, "--sentinel", "--loglevel", "notice", "--logfile", ""];
    }
    const proc = spawn(process.env["REDIS_SERVER_BIN"] ?? "redis-server", args, {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        // A Sentinel says it is up with its id instead.
        if (output.includes(this.sentinel ? "Sentinel ID is" : "Ready to accept connections")) {
          proc.stdout?.off("data", onData);
          proc.stdout?.resume();
          resolve();
        }
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", (c: Buffer) => (output += c.toString()));
      proc.once("error", reject);
      proc.once("exit", (code) => {
        this.proc = undefined;
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });
    proc.removeAllListeners("exit");
    proc.once("exit", () => {
      if (this.proc === proc) this.proc = undefined;
    });
  }

  /** Kills the process (SIGKILL by default, as a crash would) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = once(proc, "exit");
    proc.kill(signal);
    await exited;
    this.proc = undefined;
  }

  /**
   * Freezes the process (SIGSTOP), as a stalled Redis would be: connections stay open and what
   * clients write waits in the socket, to be run by `resume` (SIGCONT).
   */
  pause(): void {
    if (!this.proc?.kill("SIGSTOP")) throw new Error("redis-server is not running");
  }

  resume(): void {
    if (!this.proc?.kill("SIGCONT")) throw new Error("redis-server is not running");
  }

  /** Stops the process and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
