import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { bin, root, startHeraldProcess } from "../support/herald-process.js";
import { once } from "node:events";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { createInterface } from "node:readline";
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
      // Two more, live (the watcher registered before it replayed the first).
      for (const lastname of ["Jones", "Brown"]) {
        await unary(clients.hub, "sendEvent", {
          eventId: "1",
          subscribers: [{ ksid: "xxxx" }],
          namePairs: [{ name: "lastname", content: lastname }],
        });
      }
      await watch.received(3);
      const exited = once(h.proc, "exit");
      h.proc.kill("SIGTERM");
      const status = await watch.status;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(status.metadata.get("herald-reason"), ["SHUTTING_DOWN"]);
      // The offset to resume from: that of the last event the stream delivered.
      assert.deepEqual(status.metadata.get("herald-resume-after"), [watch.events[2]!.offset]);
      assert.equal(watch.events.length, 3);
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

/** The executable as an operator starts it: no `--host` unless `args` give one, HERALD_* from `env` only. */
function launch(args: string[], env: Record<string, string> = {}) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HERALD_")));
  const proc = spawn(process.execPath, [bin, "--http-port", "0", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, REDIS_URL: "", LOG_LEVEL: "info", ...env },
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  proc.stderr.on("data", (c: Buffer) => (stderr += c));
  const lines = createInterface({ input: proc.stdout });
  const exited = once(proc, "exit").then(([code]) => code as number);
  /** Its start line (embedded or facade), or how it ended without one. */
  const outcome = new Promise<{ started: Record<string, unknown> } | { code: number }>((resolve) => {
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (typeof entry["httpPort"] === "number") resolve({ started: entry });
    });
    void exited.then((code) => resolve({ code }));
  });
  return { proc, logs, outcome, exited, stderr: () => stderr };
}

async function stop(proc: ChildProcess, exited: Promise<number>): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  await exited;
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** An address of this machine other than loopback, when it has one. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

const PINO_INFO = 30;
const PINO_WARN = 40;
const REFUSAL =
  /^herald: --host (\S+) would serve the API unauthenticated beyond this machine: no admin key is configured; set one \(HERALD_ADMIN_KEY or --admin-key-file\) to turn access control on, or pass --insecure/;

describe("the herald executable: safe by default", () => {
  it("binds to loopback by default and says it is open to local clients only", async () => {
    const h = launch(["--grpc-port", "0"]);
    try {
      const out = await h.outcome;
      assert.ok("started" in out, `started (stderr: ${h.stderr()})`);
      assert.equal(out.started["host"], "127.0.0.1");
      const open = h.logs.find((l) => l["msg"] === "no credentials configured: serving on loopback only, unauthenticated");
      assert.ok(open, "logs that it serves loopback only");
      assert.equal(open["level"], PINO_INFO);
      assert.ok(!h.logs.some((l) => l["level"] === PINO_WARN), "nothing at warn");
      const httpPort = out.started["httpPort"] as number;
      const grpcPort = out.started["grpcPort"] as number;
      assert.ok(await accepts("127.0.0.1", httpPort));
      assert.ok(await accepts("127.0.0.1", grpcPort));
      if (lanAddress) {
        assert.equal(await accepts(lanAddress, httpPort), false, `HTTP not reachable on ${lanAddress}`);
        assert.equal(await accepts(lanAddress, grpcPort), false, `gRPC not reachable on ${lanAddress}`);
      }
    } finally {
      await stop(h.proc, h.exited);
    }
  });

  for (const [how, args, env] of [
    ["--host 0.0.0.0", ["--host", "0.0.0.0"], {}],
    ["HERALD_HOST=::", [], { HERALD_HOST: "::" }],
    ["--host 192.168.1.10", ["--host", "192.168.1.10"], {}],
    ["--host 0.0.0.0 with HERALD_INSECURE=0", ["--host", "0.0.0.0"], { HERALD_INSECURE: "0" }],
    ["facade (--core-url) --host 0.0.0.0", ["--core-url", "http://127.0.0.1:1", "--host", "0.0.0.0"], {}],
  ] as const) {
    it(`refuses ${how} without --insecure: exit 2, one plain line, nothing opened`, async () => {
      const h = launch(["--grpc-port", "0", ...args], env);
      try {
        const out = await h.outcome;
        assert.deepEqual(out, { code: 2 }, "exits 2 before starting");
        const stderr = h.stderr();
        assert.match(stderr, REFUSAL);
        assert.equal(stderr.trim().split("\n").length, 1, `one line, no stack trace: ${stderr}`);
        assert.doesNotMatch(stderr, /\n\s+at /);
        assert.ok(!h.logs.some((l) => String(l["msg"]).includes("started")));
      } finally {
        await stop(h.proc, h.exited);
      }
    });
  }

  it("refuses a HERALD_INSECURE it cannot read as a yes or a no (usage, exit 2)", async () => {
    const h = launch(["--host", "0.0.0.0"], { HERALD_INSECURE: "maybe" });
    try {
      assert.deepEqual(await h.outcome, { code: 2 });
      assert.match(h.stderr(), /HERALD_INSECURE \(--insecure\) must be 1, true, yes, 0, false or no, got "maybe"/);
    } finally {
      await stop(h.proc, h.exited);
    }
  });

  for (const [how, args, env] of [
    ["--insecure", ["--host", "0.0.0.0", "--insecure"], {}],
    ["HERALD_INSECURE=1", ["--host", "0.0.0.0"], { HERALD_INSECURE: "1" }],
    ["HERALD_INSECURE=true and HERALD_HOST=0.0.0.0", [], { HERALD_INSECURE: "true", HERALD_HOST: "0.0.0.0" }],
    ["facade (--core-url) --insecure", ["--core-url", "http://127.0.0.1:1", "--host", "0.0.0.0", "--insecure"], {}],
    ["facade (--core-url) HERALD_INSECURE=yes", ["--core-url", "http://127.0.0.1:1", "--host", "0.0.0.0"], { HERALD_INSECURE: "yes" }],
  ] as const) {
    it(`starts on 0.0.0.0 with ${how}, saying so loudly at warn`, async () => {
      const h = launch(["--grpc-port", "0", ...args], env);
      try {
        const out = await h.outcome;
        assert.ok("started" in out, `started (stderr: ${h.stderr()})`);
        assert.equal(out.started["host"], "0.0.0.0");
        const loud = h.logs.find((l) => l["insecure"] === true);
        assert.ok(loud, "a distinct insecure line");
        assert.equal(loud["level"], PINO_WARN);
        assert.match(String(loud["msg"]), /^serving WITHOUT authentication on 0\.0\.0\.0/);
        assert.ok(!h.logs.some((l) => String(l["msg"]).includes("loopback only")));
        const httpPort = out.started["httpPort"] as number;
        if (lanAddress) assert.ok(await accepts(lanAddress, httpPort), `HTTP reachable on ${lanAddress}`);
      } finally {
        await stop(h.proc, h.exited);
      }
    });
  }

  it("starts on 0.0.0.0 with an admin key, access control on: no warn line, anonymous calls refused", async () => {
    const h = launch(["--grpc-port", "0", "--host", "0.0.0.0"], { HERALD_ADMIN_KEY: "process-test-admin-key-0123" });
    try {
      const out = await h.outcome;
      assert.ok("started" in out, `started (stderr: ${h.stderr()})`);
      assert.equal(out.started["host"], "0.0.0.0");
      const on = h.logs.find((l) => l["access"] === "on");
      assert.equal(on?.["level"], PINO_INFO);
      assert.equal(on?.["msg"], "access control on: every call needs a credential");
      assert.ok(!h.logs.some((l) => l["level"] === PINO_WARN), "nothing at warn");
      assert.ok(!JSON.stringify(h.logs).includes("process-test-admin-key-0123"), "the key is never logged");
      const httpPort = out.started["httpPort"] as number;
      const res = await fetch(`http://127.0.0.1:${httpPort}/herald.v1.RegistryService/ListApps`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: string }).code, "unauthenticated");
    } finally {
      await stop(h.proc, h.exited);
    }
  });

  for (const [how, env] of [
    ["an admin key shorter than 16 characters", { HERALD_ADMIN_KEY: "short" }],
    ["subscriber tokens without an admin key", { HERALD_JWT_SECRET: "a-subscriber-token-secret-of-32-bytes-or-more" }],
  ] as const) {
    it(`refuses ${how}: exit 2, one plain line`, async () => {
      const h = launch(["--grpc-port", "0"], env);
      try {
        assert.deepEqual(await h.outcome, { code: 2 });
        assert.equal(h.stderr().trim().split("\n").length, 1, h.stderr());
        assert.doesNotMatch(h.stderr(), /short|\n\s+at /, "neither the key nor a stack trace");
      } finally {
        await stop(h.proc, h.exited);
      }
    });
  }

  it("facade mode (--core-url) binds to loopback by default, with the same info line", async () => {
    const h = launch(["--core-url", "http://127.0.0.1:1"]);
    try {
      const out = await h.outcome;
      assert.ok("started" in out, `started (stderr: ${h.stderr()})`);
      assert.equal(out.started["host"], "127.0.0.1");
      assert.match(String(out.started["msg"]), /facade started/);
      const open = h.logs.find((l) => l["msg"] === "no credentials configured: serving on loopback only, unauthenticated");
      assert.equal(open?.["level"], PINO_INFO);
      if (lanAddress) assert.equal(await accepts(lanAddress, out.started["httpPort"] as number), false);
    } finally {
      await stop(h.proc, h.exited);
    }
  });
});
