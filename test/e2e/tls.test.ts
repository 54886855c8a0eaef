import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request, type RequestOptions } from "node:https";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { bin, root, startHeraldProcess, type HeraldProcess } from "../support/herald-process.js";
import { rejection, unary, Watch } from "../support/grpc-client.js";
import { FrameParser } from "../support/xms-client.js";
import { httpsRequest, makeTestPki, peerOf, tlsClients, type ClientTls, type TestPki } from "../support/tls.js";
import { hasOpenssl } from "../support/tls.js";
import { killProcess as stop } from "../support/herald-process.js";

const XMS_HANDLER = '<web_service version="1.0"><eventhandler><eventsubscribe type="any"/></eventhandler></web_service>';
const RINGING = { eventId: "1", type: "ringing", resourceType: "call", resourceId: "c1" };

const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

/** Resolves with the first log line from index `since` on that passes `test`; fails after `timeoutMs` or if the process exits. */
function logLine(
  h: { proc: ChildProcess; logs: Array<Record<string, unknown>> },
  since: number,
  test: (l: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 10_000,
) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const check = () => {
      const found = h.logs.slice(since).find(test);
      if (!found) return false;
      done();
      resolve(found);
      return true;
    };
    const onExit = () => {
      done();
      reject(new Error(`herald exited before logging ${what}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no log line: ${what}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      h.proc.stdout?.off("data", check);
      h.proc.off("exit", onExit);
    };
    h.proc.stdout?.on("data", check);
    h.proc.once("exit", onExit);
    check();
  });
}

/** An XMS long-held GET over HTTPS, its body split by the XMS length framing. */
class XmsTlsStream {
  readonly documents: string[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;
  private constructor(readonly status: number) {}

  static open(port: number, path: string, tls: ClientTls): Promise<XmsTlsStream> {
    return new Promise((resolve, reject) => {
      const options: RequestOptions = { host: "127.0.0.1", port, path, agent: false, ca: tls.ca };
      const req = request(options, (res) => {
        const stream = new XmsTlsStream(res.statusCode ?? 0);
        const parser = new FrameParser();
        res.on("data", (chunk: Buffer) => {
          stream.documents.push(...parser.push(chunk));
          stream.wake();
        });
        res.on("close", () => {
          stream.ended = true;
          stream.wake();
        });
        stream.close = () => req.destroy();
        resolve(stream);
      });
      req.on("error", reject);
      req.end();
    });
  }

  close: () => void = () => {};

  get ringing(): number {
    return this.documents.filter((d) => d.includes('<event type="ringing"')).length;
  }

  async untilRinging(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ringing < n) {
      if (this.ended) throw new Error(`XMS stream ended after ${this.ringing} of ${n} events`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`XMS stream: ${this.ringing} of ${n} events`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Runs the executable with `args` until it exits; its whole output. */
async function runToExit(args: string[]): Promise<{ code: number; out: string }> {
  const proc = spawn(process.execPath, [bin, "--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, REDIS_URL: "" },
  });
  let out = "";
  proc.stdout.on("data", (c: Buffer) => (out += c));
  proc.stderr.on("data", (c: Buffer) => (out += c));
  const [code] = await once(proc, "exit");
  return { code: code as number, out };
}

/** `herald --core-url …`: the facade alone; resolves once it logged where it listens. */
async function startFacadeProcess(args: string[]): Promise<HeraldProcess> {
  const proc = spawn(process.execPath, [bin, "--http-port", "0", "--host", "127.0.0.1", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "info" },
  });
  const logs: Array<Record<string, unknown>> = [];
  createInterface({ input: proc.stdout! }).on("line", (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  const h = { proc, logs, grpcPort: 0, httpPort: 0 };
  const started = await logLine(h, 0, (l) => typeof l["httpPort"] === "number", "the facade's start");
  h.httpPort = started["httpPort"] as number;
  return h;
}

describe("transport security (TLS, mTLS, SIGHUP reload)", () => {
  let pki: TestPki;
  let trustCa: ClientTls;
  let trustOther: ClientTls;

  before(async function () {
    if (!hasOpenssl()) this.skip(); // certificates are made with the openssl command
    pki = await makeTestPki();
    trustCa = { ca: readFileSync(pki.ca.cert) };
    trustOther = { ca: readFileSync(pki.otherCa.cert) };
  });
  after(() => {
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("serves both ports over TLS: a client trusting the CA gets through, one trusting another CA does not", async () => {
    const h = await startHeraldProcess(["--seed", "examples/seed.yaml", "--tls-cert", pki.server.cert, "--tls-key", pki.server.key]);
    const good = tlsClients(h.grpcPort, trustCa);
    const bad = tlsClients(h.grpcPort, trustOther);
    try {
      assert.ok(h.logs.some((l) => l["tls"] === "tls"));
      const sent = await unary(good.hub, "sendEvent", { eventId: "1", subscribers: [{ ksid: "xxxx" }] });
      assert.match(sent.msgId, /^\d+$/);
      const refused = await rejection(unary(bad.hub, "sendEvent", { eventId: "1" }));
      assert.equal(refused.code, grpc.status.UNAVAILABLE);

      const health = await httpsRequest(h.httpPort, "/healthz", trustCa);
      assert.equal(health.status, 200);
      // Connect on the HTTPS port, as curl or a browser would send it.
      const connect = await httpsRequest(h.httpPort, "/herald.v1.HubService/SendEvent", trustCa, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ eventId: "1" }),
      });
      assert.equal(connect.status, 200, connect.body);
      await assert.rejects(httpsRequest(h.httpPort, "/healthz", trustOther), /self[- ]signed|unable to verify|certificate/i);

      // The served certificate, and the HTTP port stays HTTP/1.1 even when the client offers h2.
      const http = await peerOf(h.httpPort, trustCa, ["h2", "http/1.1"]);
      assert.equal(http.fingerprint, fingerprintOf(pki.server.cert));
      assert.equal(http.alpn, "http/1.1");
      const grpcPeer = await peerOf(h.grpcPort, trustCa, ["h2"]);
      assert.equal(grpcPeer.fingerprint, fingerprintOf(pki.server.cert));
      assert.equal(grpcPeer.alpn, "h2");
    } finally {
      good.close();
      bad.close();
      stop(h);
    }
  });

  it("with --tls-client-ca, refuses clients without a certificate or with one of another CA, on both ports", async () => {
    const h = await startHeraldProcess([
      ...["--seed", "examples/seed.yaml", "--tls-cert", pki.server.cert, "--tls-key", pki.server.key],
      ...["--tls-client-ca", pki.ca.cert],
    ]);
    const withClient = (pem: { cert: string; key: string }): ClientTls => ({
      ...trustCa,
      cert: readFileSync(pem.cert),
      key: readFileSync(pem.key),
    });
    const cases = { good: withClient(pki.client), none: trustCa, otherCa: withClient(pki.otherClient) };
    const clients = Object.fromEntries(Object.entries(cases).map(([k, tls]) => [k, tlsClients(h.grpcPort, tls)]));
    try {
      assert.ok(h.logs.some((l) => l["tls"] === "mtls"));
      const sent = await unary(clients["good"]!.hub, "sendEvent", { eventId: "1", subscribers: [{ ksid: "xxxx" }] });
      assert.match(sent.msgId, /^\d+$/);
      assert.equal((await httpsRequest(h.httpPort, "/healthz", cases.good)).status, 200);
      for (const name of ["none", "otherCa"] as const) {
        const err = await rejection(unary(clients[name]!.hub, "sendEvent", { eventId: "1" }));
        assert.equal(err.code, grpc.status.UNAVAILABLE, `gRPC, client cert: ${name}`);
        await assert.rejects(httpsRequest(h.httpPort, "/healthz", cases[name]), `HTTPS, client cert: ${name}`);
      }
    } finally {
      for (const c of Object.values(clients)) c.close();
      stop(h);
    }
  });

  it("on SIGHUP serves the new certificate to new connections while open gRPC and XMS streams go on; bad files keep the old one", async () => {
    // Files of its own, replaced in place as an operator (or cert-manager) would.
    const cert = join(pki.dir, "live.pem");
    const key = join(pki.dir, "live.key");
    copyFileSync(pki.server.cert, cert);
    copyFileSync(pki.server.key, key);
    const h = await startHeraldProcess(["--seed", "examples/seed.yaml", "--tls-cert", cert, "--tls-key", key]);
    const publisher = tlsClients(h.grpcPort, trustCa);
    const watcher = tlsClients(h.grpcPort, trustCa);
    let xms: XmsTlsStream | undefined;
    try {
      const first = fingerprintOf(pki.server.cert);
      const second = fingerprintOf(pki.server2.cert);
      assert.notEqual(first, second);

      const watch = new Watch(watcher.hub, { appId: "demo" });
      const created = await httpsRequest(h.httpPort, "/eventhandlers?appid=demo", trustCa, {
        method: "POST",
        headers: { "content-type": "application/xml" },
        body: XMS_HANDLER,
      });
      assert.equal(created.status, 201, created.body);
      const id = /identifier="([^"]+)"/.exec(created.body)?.[1];
      assert.ok(id, created.body);
      xms = await XmsTlsStream.open(h.httpPort, `/default/eventhandlers/${id}?appid=demo`, trustCa);
      assert.equal(xms.status, 200);
      // Both streams are live before the reload.
      await unary(publisher.hub, "sendEvent", RINGING);
      await Promise.all([watch.received(1), xms.untilRinging(1)]);

      copyFileSync(pki.server2.cert, cert);
      copyFileSync(pki.server2.key, key);
      const since = h.logs.length;
      h.proc.kill("SIGHUP");
      const reloaded = await logLine(h, since, (l) => l["msg"] === "tls certificates reloaded", "the reload");
      assert.equal(reloaded["fingerprint"], second);
      assert.equal((await peerOf(h.grpcPort, trustCa, ["h2"])).fingerprint, second, "a new gRPC connection gets the new certificate");
      assert.equal(
        (await peerOf(h.httpPort, trustCa, ["http/1.1"])).fingerprint,
        second,
        "a new HTTPS connection gets the new certificate",
      );

      // The streams opened before the reload keep receiving; the publisher's connection is also older.
      await unary(publisher.hub, "sendEvent", RINGING);
      await Promise.all([watch.received(2), xms.untilRinging(2)]);
      const fresh = tlsClients(h.grpcPort, trustCa);
      try {
        await unary(fresh.hub, "sendEvent", RINGING);
      } finally {
        fresh.close();
      }
      await Promise.all([watch.received(3), xms.untilRinging(3)]);

      // A key that does not match its certificate: logged, and the current certificate stays.
      copyFileSync(pki.server.key, key);
      const before = h.logs.length;
      h.proc.kill("SIGHUP");
      const failed = await logLine(
        h,
        before,
        (l) => l["msg"] === "tls reload failed, keeping the previous certificates",
        "the failed reload",
      );
      assert.match(String(failed["err"]), /not the key of the certificate/);
      assert.equal((await peerOf(h.grpcPort, trustCa, ["h2"])).fingerprint, second);
      assert.equal((await peerOf(h.httpPort, trustCa, ["http/1.1"])).fingerprint, second);
      assert.equal((await httpsRequest(h.httpPort, "/healthz", trustCa)).status, 200);
      // A missing file: the same.
      rmSync(cert);
      const later = h.logs.length;
      h.proc.kill("SIGHUP");
      const missing = await logLine(
        h,
        later,
        (l) => l["msg"] === "tls reload failed, keeping the previous certificates",
        "the second failed reload",
      );
      assert.match(String(missing["err"]), /--tls-cert .*live\.pem: no such file/);
      await unary(publisher.hub, "sendEvent", RINGING);
      await Promise.all([watch.received(4), xms.untilRinging(4)]);
      assert.equal(h.proc.exitCode, null, "still running");
      watch.cancel();
    } finally {
      xms?.close();
      publisher.close();
      watcher.close();
      stop(h);
    }
  });

  it("refuses to start on unusable TLS files with a clear message, exit 1 and no stack trace", async () => {
    const garbage = join(pki.dir, "garbage.pem");
    writeFileSync(garbage, "not a certificate\n");
    const cases: Array<[string[], RegExp]> = [
      [["--tls-cert", join(pki.dir, "missing.pem"), "--tls-key", pki.server.key], /--tls-cert \S*missing\.pem: no such file/],
      [["--tls-cert", pki.server.cert, "--tls-key", pki.server2.key], /--tls-key \S*server2\.key is not the key of the certificate/],
      [["--tls-cert", garbage, "--tls-key", pki.server.key], /--tls-cert \S*garbage\.pem: not a PEM certificate/],
      [["--tls-cert", pki.server.cert, "--tls-key", garbage], /--tls-key \S*garbage\.pem: not a PEM private key/],
      [["--tls-cert", pki.server.cert], /--tls-cert and --tls-key go together/],
      [["--tls-client-ca", pki.ca.cert], /--tls-client-ca needs --tls-cert and --tls-key/],
      [
        ["--tls-cert", pki.server.cert, "--tls-key", pki.server.key, "--tls-client-ca", garbage],
        /--tls-client-ca \S*garbage\.pem: not a PEM certificate/,
      ],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const { code, out } = await runToExit(args);
        assert.equal(code, 1, `${args.join(" ")}: ${out}`);
        assert.match(out, /could not start/);
        assert.match(out, message);
        assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
      }),
    );
  });

  it("--core-url https:// with --core-ca: the facade trusts its core by that CA and serves HTTPS itself", async () => {
    const core = await startHeraldProcess(["--seed", "examples/seed.yaml", "--tls-cert", pki.server.cert, "--tls-key", pki.server.key]);
    let facade: HeraldProcess | undefined;
    let wrong: HeraldProcess | undefined;
    try {
      const coreUrl = `https://127.0.0.1:${core.grpcPort}`;
      facade = await startFacadeProcess([
        "--core-url",
        coreUrl,
        "--core-ca",
        pki.ca.cert,
        "--tls-cert",
        pki.server2.cert,
        "--tls-key",
        pki.server2.key,
      ]);
      assert.equal((await peerOf(facade.httpPort, trustCa, ["http/1.1"])).fingerprint, fingerprintOf(pki.server2.cert));
      const created = await httpsRequest(facade.httpPort, "/eventhandlers?appid=demo", trustCa, {
        method: "POST",
        headers: { "content-type": "application/xml" },
        body: XMS_HANDLER,
      });
      assert.equal(created.status, 201, created.body);

      // Trusting another CA, the facade cannot reach the core: an error answer, not a handler.
      wrong = await startFacadeProcess(["--core-url", coreUrl, "--core-ca", pki.otherCa.cert]);
      const refused = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `http://127.0.0.1:${wrong!.httpPort}/eventhandlers?appid=demo`,
          { method: "POST", headers: { "content-type": "application/xml" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end(XMS_HANDLER);
      });
      assert.ok(refused >= 500, `status ${refused}`);

      const { code, out } = await runToExit(["--core-url", `http://127.0.0.1:${core.grpcPort}`, "--core-ca", pki.ca.cert]);
      assert.equal(code, 1);
      assert.match(out, /--core-ca is for an https:\/\/ --core-url/);
    } finally {
      stop(wrong);
      stop(facade);
      stop(core);
    }
  });
});
