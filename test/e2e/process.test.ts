import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { bin, root, startHeraldProcess } from "../support/herald-process.js";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { rawClients, unary, Watch } from "../support/grpc-client.js";

describe("the herald executable", () => {
  it("starts embedded with the quick-start seed, and on SIGTERM ends streams cleanly and exits 0", async () => {
    const h = await startHeraldProcess(["--seed", "examples/seed.yaml"]);
    assert.ok(
      h.logs.some((l) => String(l["msg"]).includes("embedded")),
      "says it runs embedded",
    );
    const clients = rawClients(h.grpcPort);
    try {
      const sent = await unary(clients.hub, "sendEvent", {
        eventId: "1",
        subscribers: [{ ksid: "xxxx" }],
        namePairs: [{ name: "lastname", content: "Smith" }],
      });
      assert.match(sent.msgId, /^\d+$/);
      const watch = new Watch(clients.hub, { appId: "demo", ksid: "xxxx", resumeAfter: "0" });
      await watch.received(1);
      assert.equal(watch.events[0]!.content?.data, "Hello Smith, welcome aboard.");
      const exited = once(h.proc, "exit");
      h.proc.kill("SIGTERM");
      const status = await watch.status;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(status.metadata.get("herald-reason"), ["SHUTTING_DOWN"]);
      const [code] = await exited;
      assert.equal(code, 0);
      assert.ok(h.logs.some((l) => l["msg"] === "herald stopped"));
    } finally {
      clients.close();
      if (h.proc.exitCode === null) h.proc.kill("SIGKILL");
    }
  });

  it("lists every flag with --help and refuses an unknown one", async () => {
    const run = async (args: string[]) => {
      const proc = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      proc.stdout.on("data", (c: Buffer) => (out += c));
      proc.stderr.on("data", (c: Buffer) => (out += c));
      const [code] = await once(proc, "exit");
      return { code: code as number, out };
    };
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    for (const flag of ["--grpc-port", "--http-port", "--redis-url", "REDIS_URL", "--seed", "--history-size", "--watch-queue-limit"]) {
      assert.ok(help.out.includes(flag), `--help mentions ${flag}`);
    }
    const bad = await run(["--no-such-flag"]);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /no-such-flag/);
    const badNumber = await run(["--grpc-port", "many"]);
    assert.equal(badNumber.code, 2);
  });

  it("refuses to start on a broken seed file and says where", async () => {
    const proc = spawn(process.execPath, [bin, "--grpc-port", "0", "--http-port", "0", "--seed", "package.json"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, REDIS_URL: "" },
    });
    let out = "";
    proc.stdout.on("data", (c: Buffer) => (out += c));
    const [code] = await once(proc, "exit");
    assert.equal(code, 1);
    assert.match(out, /could not start/);
  });
});
