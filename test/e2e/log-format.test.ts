import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { bin, root } from "../support/herald-process.js";

/**
 * Runs the real executable until its start line appears (a line naming where gRPC listens), then
 * SIGTERMs it; resolves with every stdout line and the exit code. With `tty`, under `script`, so
 * that its stdout is a terminal.
 */
async function run(args: string[], env: Record<string, string> = {}, tty = false): Promise<{ lines: string[]; code: number | null }> {
  const command = [process.execPath, bin, "--grpc-port", "0", "--http-port", "0", ...args];
  const proc = tty
    ? spawn("script", ["-qfec", `exec ${command.map((a) => `'${a}'`).join(" ")}`, "/dev/null"], {
        cwd: root,
        stdio: ["pipe", "pipe", "ignore"],
        env: { ...process.env, REDIS_URL: "", ...env },
      })
    : spawn(command[0]!, command.slice(1), {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, REDIS_URL: "", ...env },
      });
  const lines: string[] = [];
  // "close": after its stdout ended too, so that every line it wrote is in `lines`.
  const exited = new Promise<number | null>((resolve) => proc.once("close", resolve));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      lines.push(line);
      if (/gRPC on /.test(line) && !/shutting down/.test(line)) {
        // Under `script`, the signal goes to Herald itself (script's child), as a terminal's ^C would.
        const herald = tty ? Number(spawnSync("pgrep", ["-P", String(proc.pid)], { encoding: "utf8" }).stdout.trim()) : proc.pid;
        process.kill(herald!, "SIGTERM");
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`exited before starting:\n${lines.join("\n")}`)));
  });
  return { lines, code: await exited };
}

const ESC = String.fromCharCode(27);
const colour = new RegExp(`${ESC}\\[[0-9;]*m`, "g");
const stripColours = (s: string) => s.replace(colour, "");

describe("log format (the real executable)", () => {
  it("writes JSON lines when stdout is not a terminal, and the start line says where to connect", async () => {
    const { lines, code } = await run([]);
    assert.equal(code, 0);
    const started = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => typeof e["grpcPort"] === "number");
    assert.ok(started, lines.join("\n"));
    assert.ok(
      lines.some((l) => l.includes('"msg":"herald stopped"')),
      "the last line is written too",
    );
    assert.match(
      String(started["msg"]),
      new RegExp(
        `gRPC on 127\\.0\\.0\\.1:${started["grpcPort"]}; HTTP .* on http://127\\.0\\.0\\.1:${started["httpPort"]}\\. Try: curl http://127\\.0\\.0\\.1:${started["httpPort"]}/healthz`,
      ),
    );
  });

  it("writes pretty lines with --log-format pretty, and still exits 0 with every line flushed", async () => {
    const { lines, code } = await run(["--log-format", "pretty"]);
    assert.equal(code, 0);
    const start = lines.find((l) => l.includes("herald started"));
    assert.match(start ?? "", /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: herald started embedded/, lines.join("\n"));
    assert.throws(() => JSON.parse(start ?? ""), "not JSON");
    assert.match(lines.at(-1) ?? "", /INFO: herald stopped$/, "the transport thread wrote the last line before the exit");
  });

  it("is pretty and coloured on a terminal by default; HERALD_LOG_FORMAT=json keeps JSON there", async function () {
    if (spawnSync("script", ["--version"]).status !== 0 || spawnSync("pgrep", ["--version"]).status !== 0) this.skip(); // util-linux's script gives the process a terminal
    const pretty = await run([], {}, true);
    const start = pretty.lines.find((l) => l.includes("herald started")) ?? "";
    assert.notEqual(start, stripColours(start), "coloured");
    assert.match(stripColours(start).trim(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: herald started embedded/);
    const json = await run([], { HERALD_LOG_FORMAT: "json" }, true);
    const line = json.lines.find((l) => l.includes("herald started")) ?? "";
    assert.equal((JSON.parse(line.trim()) as { level: number }).level, 30);
  });
});
