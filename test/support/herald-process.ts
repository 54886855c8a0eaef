import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
export const bin = join(root, "dist/server/main.js");

export interface HeraldProcess {
  proc: ChildProcess;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  grpcPort: number;
  httpPort: number;
}

/**
 * Starts the real `herald` executable on free ports (embedded unless `args` name a Redis) and
 * waits for its start-up log line.
 */
/** The real executable; `env` adds to (or overrides) its environment, where secrets go (never argv). */
export async function startHeraldProcess(args: string[], env: Record<string, string> = {}): Promise<HeraldProcess> {
  const { proc, logs, entry } = await launch(
    ["--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", ...args],
    env,
    "grpcPort",
    "herald",
  );
  return { proc, logs, grpcPort: entry["grpcPort"] as number, httpPort: entry["httpPort"] as number };
}

/** Spawns the executable and resolves with the first log line that has `field` (where it listens). */
async function launch(args: string[], env: Record<string, string>, field: string, what: string) {
  const proc = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    // Its start-up line is the info log that says where it listens.
    env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "info", ...env },
  });
  const logs: Array<Record<string, unknown>> = [];
  const lines = createInterface({ input: proc.stdout! });
  const entry = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on("line", (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      logs.push(e);
      if (typeof e[field] === "number") resolve(e);
    });
    proc.once("exit", (code) => reject(new Error(`${what} exited with ${code} before starting`)));
  });
  return { proc, logs, entry };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real executable to its exit (a client command such as `herald keys …`) and collects
 * its streams apart. `env` replaces the variables it names (an empty value unsets one for it).
 */
export async function runHeraldCommand(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === "") delete merged[name];
  const proc = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: merged });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (c: Buffer) => (stdout += c));
  proc.stderr.on("data", (c: Buffer) => (stderr += c));
  const code = await new Promise<number>((resolve, reject) => {
    proc.once("error", reject);
    // "close", not "exit": both pipes are drained by then.
    proc.once("close", (c: number | null, signal: string | null) => resolve(c ?? (signal ? 128 : 1)));
  });
  return { code, stdout, stderr };
}

/**
 * `herald --core-url …`: the real executable as the facade alone, on a free HTTP port; resolves
 * once it logged where it listens (`grpcPort` is 0: it serves no gRPC).
 */
export async function startFacadeProcess(args: string[], env: Record<string, string> = {}): Promise<HeraldProcess> {
  const { proc, logs, entry } = await launch(["--http-port", "0", "--host", "127.0.0.1", ...args], env, "httpPort", "herald (facade)");
  return { proc, logs, grpcPort: 0, httpPort: entry["httpPort"] as number };
}

/** Kills the process at once if it is still running (a test's cleanup). */
export function killProcess(h: HeraldProcess | undefined): void {
  if (h && h.proc.exitCode === null) h.proc.kill("SIGKILL");
}

export interface RunningCommand {
  proc: ChildProcess;
  /** The lines of stdout so far. */
  lines: string[];
  /** Resolves with the first stdout line (so far or to come) that matches; rejects if the command exits first. */
  line(pattern: RegExp): Promise<string>;
  /** Its exit, with everything it wrote. */
  result: Promise<CommandResult>;
}

/**
 * Starts the real executable as a long-running client command (`herald watch …`) and follows its
 * stdout line by line; `env` as for runHeraldCommand.
 */
export function startHeraldCommand(args: string[], env: Record<string, string> = {}): RunningCommand {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === "") delete merged[name];
  const proc = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: merged });
  const lines: string[] = [];
  let stderr = "";
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  proc.stderr.on("data", (c: Buffer) => (stderr += c));
  createInterface({ input: proc.stdout }).on("line", (line) => {
    lines.push(line);
    for (const w of [...waiting]) {
      if (w.pattern.test(line)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const result = new Promise<CommandResult>((resolve, reject) => {
    proc.once("error", reject);
    proc.once("close", (c: number | null, signal: string | null) =>
      resolve({ code: c ?? (signal ? 128 : 1), stdout: lines.map((l) => `${l}\n`).join(""), stderr }),
    );
  });
  return {
    proc,
    lines,
    result,
    line(pattern) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiting.push({ pattern, resolve });
        void result.then((r) => reject(new Error(`exited ${r.code} before printing ${pattern}: ${r.stderr}${r.stdout}`)));
      });
    },
  };
}
