import { strict as assert } from "node:assert";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { startHeraldProcess, type HeraldProcess } from "../support/herald-process.js";
import { ok, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";

/** A plain HTTP server on `host` that counts its calls and answers with `answer`. */
async function listen(
  host: string,
  answer: (res: import("node:http").ServerResponse) => void,
): Promise<{ server: Server; port: number; calls: number }> {
  const s = { server: createServer(), port: 0, calls: 0 };
  s.server.on("request", (req, res) => {
    s.calls++;
    req.resume().on("end", () => answer(res));
  });
  s.server.listen(0, host);
  await once(s.server, "listening");
  s.port = (s.server.address() as { port: number }).port;
  return s;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Registers a contract calling `url`, sends one event (body `body`), returns its settled execution. */
async function deliver(api: EventhosApi, name: string, url: string, body: unknown = {}): Promise<{ received: any; execution: any }> {
  const p = await api.producer(name);
  await api.contract(`${name}-hook`, p.eventId, p.consumer, url);
  const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), body);
  assert.equal(sent.json.code, 200000, sent.body);
  const received = await api.settled((await api.latest(p.eventId)).id);
  assert.equal(received.executions.length, 1);
  return { received, execution: received.executions[0] };
}

/** Asserts one failed attempt refused before any exchange: the error names the address and the flag. */
function assertRefused(execution: any, pattern: RegExp): void {
  assert.equal(execution.state, "error", JSON.stringify(execution));
  assert.equal(execution.attempts.length, 1, "refused once, never retried (retryLimit 3 here)");
  const [attempt] = execution.attempts;
  assert.equal(attempt.outcome, "failure");
  assert.match(attempt.error, pattern);
  assert.match(attempt.error, /; allow it with --delivery-allow-hosts$/);
  assert.equal(attempt.response, undefined, "nothing answered, nothing logged");
}

/** Issue 13: contracts must not reach loopback, private or link-local addresses unless allowed. */
describe("eventhos outbound calls: loopback, private and link-local addresses are refused", () => {
  let h: TestHerald;
  let api: EventhosApi;
  let target: Target;
  let v6: { server: Server; port: number; calls: number } | undefined;

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN_TOKEN }, eventhos: { callTimeoutMs: 2000, retryLimit: 3, backoffBaseMs: 10 } });
    api = new EventhosApi(h.httpPort);
    target = await Target.start(ok);
    try {
      v6 = await listen("::1", (res) => res.end("{}"));
    } catch {
      v6 = undefined; // no IPv6 loopback on this machine
    }
  });
  after(async () => {
    await h.stop();
    await target.close();
    if (v6) await close(v6.server);
  });

  const loopbackForms: Array<[string, (port: number) => string, RegExp]> = [
    ["127.0.0.1", (p) => `http://127.0.0.1:${p}/hook`, /^refused: 127\.0\.0\.1 is a loopback address/],
    ["localhost", (p) => `http://localhost:${p}/hook`, /^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address/],
    ["[::ffff:127.0.0.1] (IPv4-mapped)", (p) => `http://[::ffff:127.0.0.1]:${p}/hook`, /^refused: ::ffff:7f00:1 is a loopback address/],
    ["2130706433 (decimal)", (p) => `http://2130706433:${p}/hook`, /^refused: 127\.0\.0\.1 is a loopback address/],
    ["0x7f.0.0.1 (hex)", (p) => `http://0x7f.0.0.1:${p}/hook`, /^refused: 127\.0\.0\.1 is a loopback address/],
    ["0177.0.0.1 (octal)", (p) => `http://0177.0.0.1:${p}/hook`, /^refused: 127\.0\.0\.1 is a loopback address/],
    ["127.1 (short)", (p) => `http://127.1:${p}/hook`, /^refused: 127\.0\.0\.1 is a loopback address/],
    ["127.42.0.9 (anywhere in 127/8)", (p) => `http://127.42.0.9:${p}/hook`, /^refused: 127\.42\.0\.9 is a loopback address/],
    ["0.0.0.0 (reaches this host on Linux)", (p) => `http://0.0.0.0:${p}/hook`, /^refused: 0\.0\.0\.0 is an unspecified address/],
  ];
  for (const [name, url, pattern] of loopbackForms) {
    it(`refuses ${name}: the target sees no call, the log says why`, async () => {
      const before = target.calls.length;
      const { received, execution } = await deliver(api, `lo-${loopbackForms.findIndex((f) => f[0] === name)}`, url(target.port));
      assert.equal(target.calls.length, before, "the loopback target is never called");
      assert.equal(received.state, "error");
      assertRefused(execution, pattern);
    });
  }

  it("refuses a host filled in from the event by a template (checked at call time)", async () => {
    const url = `http://{{body.host}}:${target.port}/hook`;
    const before = target.calls.length;
    const { execution } = await deliver(api, "templated", url, { host: "127.0.0.1" });
    assert.equal(target.calls.length, before, "the loopback target is never called");
    assert.equal(execution.attempts[0].request.url, target.url());
    assertRefused(execution, /^refused: 127\.0\.0\.1 is a loopback address/);
  });

  it("refuses [::1] (IPv6 loopback): its server sees no call", async function () {
    if (!v6) this.skip();
    const { execution } = await deliver(api, "v6", `http://[::1]:${v6.port}/hook`);
    assert.equal(v6.calls, 0, "the IPv6 loopback server is never called");
    assertRefused(execution, /^refused: ::1 is a loopback address/);
  });

  const unreachable: Array<[string, string, RegExp]> = [
    [
      "169.254.169.254 (cloud metadata)",
      "http://169.254.169.254/latest/meta-data/",
      /^refused: 169\.254\.169\.254 is a link-local address/,
    ],
    ["10.0.0.1", "http://10.0.0.1/", /^refused: 10\.0\.0\.1 is a private address/],
    ["192.168.1.1", "https://192.168.1.1/", /^refused: 192\.168\.1\.1 is a private address/],
    ["[fd00::1] (unique local)", "http://[fd00::1]/", /^refused: fd00::1 is a private address/],
    ["[fe80::1] (link-local)", "http://[fe80::1]/", /^refused: fe80::1 is a link-local address/],
    [
      "[::ffff:169.254.169.254] (mapped metadata)",
      "http://[::ffff:169.254.169.254]/",
      /^refused: ::ffff:a9fe:a9fe is a link-local address/,
    ],
  ];
  for (const [name, url, pattern] of unreachable) {
    it(`refuses ${name} before connecting`, async () => {
      const { execution } = await deliver(api, `far-${unreachable.findIndex((f) => f[0] === name)}`, url);
      assertRefused(execution, pattern);
      assert.ok(execution.attempts[0].durationMs < 1000, `refused at once, not timed out (${execution.attempts[0].durationMs} ms)`);
    });
  }

  it("upsertAction refuses any scheme but http and https (INVALID_ARGUMENT)", async () => {
    for (const url of ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com/", "javascript:alert(1)", "data:text/plain,x"]) {
      const r = await api.call(
        "POST",
        "/action",
        { id: "bad", appId: "x", method: "POST", url },
        { authorization: `Bearer ${ADMIN_TOKEN}` },
      );
      assert.equal(r.json.code, 400000, `${url}: ${r.body}`);
      assert.match(r.json.message, /http\(s\) URL/);
    }
  });
});

describe("eventhos outbound calls: --delivery-allow-hosts", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it("an allowed address is called; its neighbours are not, nor is a redirect to them followed", async () => {
    const target = await Target.start(ok);
    cleanup.push(() => target.close());
    // An allowed internal system on 127.0.0.2 that redirects to the (not allowed) loopback target.
    const redirector = await listen("127.0.0.2", (res) => res.writeHead(302, { location: target.url() }).end("moved"));
    cleanup.push(() => close(redirector.server));
    const h = await startTestHerald({ auth: { adminKey: ADMIN_TOKEN }, eventhos: { allowHosts: " 127.0.0.2 ,localhost", retryLimit: 0 } });
    cleanup.push(() => h.stop());
    const api = new EventhosApi(h.httpPort);

    const redirected = await deliver(api, "redirect", `http://127.0.0.2:${redirector.port}/hook`);
    assert.equal(redirector.calls, 1, "the allowed address is called");
    const [attempt] = redirected.execution.attempts;
    assert.equal(attempt.outcome, "failure", "redirects are not followed: the 3xx is the outcome");
    assert.equal(attempt.response.status, 302);
    assert.equal(attempt.error, "status 302");
    assert.equal(target.calls.length, 0, "the redirect's loopback target is never reached");

    const direct = await deliver(api, "direct", target.url());
    assertRefused(direct.execution, /^refused: 127\.0\.0\.1 is a loopback address/);
    assert.equal(target.calls.length, 0);

    // An allowed host name: whatever it resolves to may be called.
    const byName = await deliver(api, "by-name", `http://LocalHost:${target.port}/hook`);
    assert.equal(byName.execution.state, "processed", JSON.stringify(byName.execution));
    assert.equal(target.calls.length, 1);
  });

  it("the flag (and a CIDR range) lets the real executable call 127.0.0.1", async () => {
    const target = await Target.start(ok);
    cleanup.push(() => target.close());
    const proc: HeraldProcess = await startHeraldProcess(["--delivery-allow-hosts", "10.0.0.0/8,127.0.0.1"], {
      HERALD_ADMIN_KEY: ADMIN_TOKEN,
    });
    cleanup.push(async () => {
      proc.proc.kill("SIGTERM");
      if (proc.proc.exitCode === null) await once(proc.proc, "exit");
    });
    const api = new EventhosApi(proc.httpPort);
    const { received } = await deliver(api, "allowed", target.url());
    assert.equal(received.state, "processed", JSON.stringify(received));
    assert.equal(target.calls.length, 1);
  });

  it("a malformed allow list stops the start, naming the entry", async () => {
    await assert.rejects(
      startTestHerald({ eventhos: { allowHosts: "127.0.0.1/33" } }),
      /--delivery-allow-hosts: bad range "127\.0\.0\.1\/33"/,
    );
    await assert.rejects(startTestHerald({ eventhos: { allowHosts: "http://crm.local" } }), /"http:\/\/crm\.local" is neither/);
  });
});
