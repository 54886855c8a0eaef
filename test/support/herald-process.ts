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
export async function startHeraldProcess(args: string[]): Promise<HeraldProcess> {
  const proc = spawn(process.execPath, [bin, "--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    // Its start-up line is the info log that says where it listens.
    env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "info" },
  });
  const logs: Array<Record<string, unknown>> = [];
  const lines = createInterface({ input: proc.stdout! });
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (typeof entry["grpcPort"] === "number") resolve(entry);
    });
    proc.once("exit", (code) => reject(new Error(`herald exited with ${code} before starting`)));
  });
  const entry = await started;
  return { proc, logs, grpcPort: entry["grpcPort"] as number, httpPort: entry["httpPort"] as number };
}
