import { createHash } from "node:crypto";
import { strict as assert } from "node:assert";
import { create, fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { renderJson, renderText, lookup } from "../core/eventhos/body-template.js";
import { backoffMs, wait } from "../core/eventhos/backoff.js";
import { JobStop } from "../core/eventhos/job-stop.js";
import { buildRequest } from "../core/eventhos/delivery-engine.js";
import { ActionSchema, ReceivedEventSchema } from "../core/gen/herald/v1/eventhos_pb.js";
import { hashKey, hashSecret, newKey, sameHash, TokenSigner, verifySecret } from "../core/eventhos/token-signer.js";
import { isSecretHeader, REDACTED, redactAction, redactHeaders } from "../core/eventhos/secret-headers.js";
import { addressKind, embeddedIPv4, OutboundGuard, type Resolver } from "../core/eventhos/outbound-guard.js";
import { ActionCaller } from "../core/eventhos/call-action.js";
import { createServer, type Server } from "node:http";
import { once } from "node:events";

const source = { body: { a: { b: [10, { c: "deep" }] }, n: 1, s: "x y" }, headers: { "x-id": "h1" }, query: { q: "v" } };

describe("eventhos templates", () => {
  it("looks up body paths (arrays by index), headers case-insensitively and query; absent is undefined", () => {
    assert.equal(lookup("body.a.b.1.c", source), "deep");
    assert.deepEqual(lookup("body", source), source.body);
    assert.equal(lookup("headers.X-Id", source), "h1");
    assert.equal(lookup("query.q", source), "v");
    assert.equal(lookup("body.none.deeper", source), undefined);
    assert.equal(lookup("body.constructor", source), undefined, "own properties only");
    assert.equal(lookup("env.HOME", source), undefined);
  });

  it("fills text (with an encoder for URLs) and JSON, where a lone placeholder keeps the value's type", () => {
    assert.equal(renderText("/x/{{ body.s }}?h={{headers.x-id}}&m={{body.missing}}", source, encodeURIComponent), "/x/x%20y?h=h1&m=");
    assert.deepEqual(
      renderJson('{"n":"{{body.n}}","t":"n={{body.n}}","o":"{{body.a}}","m":"{{body.m}}","k":[true,"{{query.q}}"]}', source),
      {
        n: 1,
        t: "n=1",
        o: source.body.a,
        m: null,
        k: [true, "v"],
      },
    );
    assert.throws(() => renderJson("{not json", source));
  });

  it("builds the call: method upper-cased, received body forwarded when there is no template, none for GET", () => {
    const received = create(ReceivedEventSchema, { body: fromJson(ValueSchema, { id: 5 }), headers: {}, query: {} });
    const post = buildRequest(create(ActionSchema, { method: "post", url: "http://t/{{body.id}}", headers: { "X-A": "b" } }), received);
    assert.deepEqual(post, {
      method: "POST",
      url: "http://t/5",
      headers: { "x-a": "b", "content-type": "application/json" },
      body: '{"id":5}',
    });
    const get = buildRequest(create(ActionSchema, { method: "GET", url: "http://t/" }), received);
    assert.equal(get.body, undefined);
    assert.equal(get.headers["content-type"], undefined);
  });
});

describe("eventhos secret headers", () => {
  it("redacts marked headers case-insensitively and the always-secret ones unmarked; others are kept", () => {
    assert.equal(isSecretHeader("Cookie", []), true);
    assert.equal(isSecretHeader("X-Sig", ["x-sig"]), true);
    assert.equal(isSecretHeader("x-trace", ["x-sig"]), false);
    assert.deepEqual(redactHeaders({ Authorization: "Bearer t", "X-Sig": "s", "x-trace": "t" }, ["x-sig"]), {
      Authorization: REDACTED,
      "X-Sig": REDACTED,
      "x-trace": "t",
    });
    const action = create(ActionSchema, { id: "a", headers: { "x-api-key": "k", "proxy-authorization": "p" } });
    assert.deepEqual(redactAction(action).headers, { "x-api-key": REDACTED, "proxy-authorization": REDACTED });
    assert.equal(action.headers["x-api-key"], "k", "the action itself keeps its values");
  });
});

describe("eventhos backoff", () => {
  it("doubles from the base up to the max, with half of it random", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10].map((r) => backoffMs(r, 100, 500, () => 1)),
      [100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3].map((r) => backoffMs(r, 100, 500, () => 0)),
      [50, 100, 200],
    );
  });

  it("a JobStop stops waits as an AbortSignal does: at once, each listener once, none added after", async () => {
    const stop = new JobStop();
    const long = wait(60_000, stop);
    let calls = 0;
    const counted = () => calls++;
    stop.addEventListener("abort", counted);
    const removed = () => assert.fail("a removed listener ran");
    stop.addEventListener("abort", removed);
    stop.removeEventListener("abort", removed);
    stop.abort();
    stop.abort();
    assert.equal(await long, false);
    assert.equal(calls, 1);
    stop.addEventListener("abort", counted);
    assert.equal(await wait(60_000, stop), false);
    assert.equal(calls, 1);
    assert.equal(await wait(1, new JobStop()), true);
  });
});

describe("eventhos access keys", () => {
  it("hashes secrets with scrypt and verifies them; a malformed hash never matches", async () => {
    const stored = await hashSecret("pw");
    assert.match(stored, /^scrypt\$/);
    assert.equal(await verifySecret("pw", stored), true);
    assert.equal(await verifySecret("pw2", stored), false);
    assert.equal(await verifySecret("pw", "plain"), false);
  });

  it("makes long-lived keys that only their SHA-256 identifies", () => {
    const k = newKey();
    assert.match(k.key, /^hk_[\w-]{43}$/);
    assert.equal(hashKey(k.key), k.hash);
    assert.equal(sameHash(k.hash, hashKey(k.key)), true);
    assert.equal(sameHash(k.hash, hashKey(newKey().key)), false);
  });

  it("signs tokens that only the same secret verifies", async () => {
    const signer = new TokenSigner("secret-one-secret-one-secret-one!", 60);
    const token = await signer.sign("c1", 3);
    assert.deepEqual(await signer.verify(token), { clientId: "c1", generation: 3 });
    assert.equal(await new TokenSigner("secret-two-secret-two-secret-two!", 60).verify(token), undefined);
    assert.equal(await signer.verify(token.slice(0, -2) + "xx"), undefined);
  });

  it("hashes a key the same the second time (from its cache) and any length of string", () => {
    const k = newKey();
    assert.equal(hashKey(k.key), hashKey(k.key));
    assert.equal(hashKey(k.key), k.hash);
    const long = `hk_${"x".repeat(5000)}`;
    assert.equal(hashKey(long), createHash("sha256").update(long).digest("hex"));
  });

  it("verifies a token again from its cache until it expires, and then no longer", async () => {
    const signer = new TokenSigner("secret-one-secret-one-secret-one!", 1);
    const token = await signer.sign("c1", 3);
    const { exp } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
    assert.deepEqual(await signer.verify(token), { clientId: "c1", generation: 3 });
    assert.deepEqual(await signer.verify(token), { clientId: "c1", generation: 3 });
    // What is measured is the passing of time itself: the token's second runs out.
    while (Date.now() < exp * 1000) await new Promise((r) => setTimeout(r, exp * 1000 - Date.now()));
    assert.equal(await signer.verify(token), undefined);
  });
});

describe("eventhos outbound guard", () => {
  it("names every refused IPv4 range, at its edges, and lets public addresses through", () => {
    const cases: Array<[string, string | undefined]> = [
      ["0.0.0.0", "unspecified"],
      ["0.255.255.255", "unspecified"],
      ["10.0.0.0", "private"],
      ["10.255.255.255", "private"],
      ["100.64.0.1", "private"],
      ["100.127.255.255", "private"],
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["169.254.169.254", "link-local"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.0.0.8", "reserved"],
      ["192.0.2.1", "reserved"],
      ["192.168.0.1", "private"],
      ["198.18.0.1", "reserved"],
      ["198.19.255.255", "reserved"],
      ["198.51.100.7", "reserved"],
      ["203.0.113.7", "reserved"],
      ["224.0.0.1", "multicast"],
      ["239.255.255.250", "multicast"],
      ["240.0.0.1", "reserved"],
      ["255.255.255.255", "reserved"],
      ["1.1.1.1", undefined],
      ["8.8.8.8", undefined],
      ["9.255.255.255", undefined],
      ["11.0.0.0", undefined],
      ["100.63.255.255", undefined],
      ["100.128.0.0", undefined],
      ["126.255.255.255", undefined],
      ["128.0.0.0", undefined],
      ["169.253.255.255", undefined],
      ["172.15.255.255", undefined],
      ["172.32.0.0", undefined],
      ["192.167.255.255", undefined],
      ["198.20.0.0", undefined],
      ["223.255.255.255", undefined],
    ];
    assert.deepEqual(
      cases.map(([a]) => [a, addressKind(a)]),
      cases,
    );
  });

  it("names every refused IPv6 range, and reads the IPv4 address inside mapped, NAT64 and 6to4 forms", () => {
    const cases: Array<[string, string | undefined]> = [
      ["::", "unspecified"],
      ["::1", "loopback"],
      ["0:0:0:0:0:0:0:1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["0:0:0:0:0:ffff:7f00:1", "loopback"],
      ["::ffff:169.254.169.254", "link-local"],
      ["::ffff:a9fe:a9fe", "link-local"],
      ["::ffff:10.1.2.3", "private"],
      ["::ffff:0.0.0.0", "unspecified"],
      ["::ffff:0:127.0.0.1", "loopback"], // SIIT
      ["64:ff9b::127.0.0.1", "loopback"], // NAT64
      ["64:ff9b::a9fe:a9fe", "link-local"],
      ["2002:7f00:1::", "loopback"], // 6to4 of 127.0.0.1
      ["2002:c0a8:101::1", "private"], // 6to4 of 192.168.1.1
      ["::127.0.0.1", "reserved"], // IPv4-compatible
      ["::7f00:1", "reserved"],
      ["64:ff9b:1::1", "reserved"],
      ["100::1", "reserved"],
      ["2001::1", "reserved"], // Teredo
      ["2001:db8::1", "reserved"],
      ["3fff::1", "reserved"],
      ["fc00::1", "private"],
      ["fd12:3456::1", "private"],
      ["fe80::1", "link-local"],
      ["fe80::1%lo", "link-local"],
      ["febf:ffff::1", "link-local"],
      ["fec0::1", "private"],
      ["ff02::1", "multicast"],
      ["ff0e::1", "multicast"],
      ["2606:4700:4700::1111", undefined],
      ["2a00:1450:4001:80b::200e", undefined],
      ["::ffff:8.8.8.8", undefined],
      ["64:ff9b::808:808", undefined],
      ["2002:808:808::1", undefined],
      ["fbff:ffff::1", undefined],
      ["fe00::1", undefined],
    ];
    assert.deepEqual(
      cases.map(([a]) => [a, addressKind(a)]),
      cases,
    );
    assert.equal(embeddedIPv4("::ffff:7f00:1"), "127.0.0.1");
    assert.equal(embeddedIPv4("2002:a9fe:a9fe::"), "169.254.169.254");
    assert.equal(embeddedIPv4("2606:4700::1"), undefined);
    assert.throws(() => addressKind("localhost"), /not an IP address/);
  });

  it("WHATWG URL parsing already turns numeric and mapped hosts into the addresses checked", () => {
    const hosts = [
      "2130706433",
      "0x7f.0.0.1",
      "0x7f000001",
      "0177.0.0.1",
      "127.1",
      "127.0.1",
      "[::ffff:127.0.0.1]",
      "[0:0:0:0:0:ffff:7f00:1]",
    ];
    for (const h of hosts) {
      const host = new URL(`http://${h}:1/`).hostname.replace(/^\[(.*)\]$/, "$1");
      assert.equal(addressKind(host), "loopback", `${h} → ${host}`);
    }
  });

  it("allows what the operator lists: addresses, CIDR ranges (IPv4 also when mapped) and host names", () => {
    const guard = new OutboundGuard(" 127.0.0.1, 10.1.0.0/16 ,[fd00::1],fe80::/10, CRM.Internal. ,");
    assert.equal(guard.refusal("127.0.0.1", "127.0.0.1"), undefined);
    assert.equal(guard.refusal("::ffff:7f00:1", "::ffff:7f00:1"), undefined, "the same IPv4 host");
    assert.match(
      guard.refusal("127.0.0.2", "127.0.0.2")!,
      /^refused: 127\.0\.0\.2 is a loopback address; allow it with --delivery-allow-hosts$/,
    );
    assert.equal(guard.refusal("10.1.200.3", "10.1.200.3"), undefined);
    assert.match(guard.refusal("10.2.0.1", "10.2.0.1")!, /private/);
    assert.equal(guard.refusal("fd00::1", "fd00::1"), undefined);
    assert.match(guard.refusal("fd00::2", "fd00::2")!, /^refused: fd00::2 is a private address/);
    assert.equal(guard.refusal("fe80::9", "fe80::9"), undefined);
    assert.equal(guard.refusal("crm.internal", "192.168.7.7"), undefined, "a listed name may resolve anywhere");
    assert.equal(guard.refusal("crm.internal.", "192.168.7.7"), undefined);
    assert.match(guard.refusal("evil.example", "192.168.7.7")!, /^refused: evil\.example resolves to 192\.168\.7\.7, a private address/);
    assert.equal(guard.refusal("example.com", "93.184.215.14"), undefined);
    assert.match(new OutboundGuard("").refusal("0.0.0.0", "0.0.0.0")!, /^refused: 0\.0\.0\.0 is an unspecified address/);
    for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/x", "http://crm", "crm/8", "a b", "*.internal"]) {
      assert.throws(() => new OutboundGuard(bad), /--delivery-allow-hosts/, bad);
    }
  });

  it("lookup resolves once and hands on only allowed addresses (DNS rebinding finds nothing to reuse)", async () => {
    const records: Record<string, string[]> = {
      "mixed.example": ["127.0.0.1", "93.184.215.14", "::1", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
      "inside.example": ["10.0.0.5", "::ffff:169.254.169.254"],
      "crm.internal": ["10.0.0.9"],
    };
    const resolve: Resolver = (name, options, callback) => {
      assert.equal(options.all, true);
      const list = records[name];
      if (!list) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" }), []);
      callback(
        null,
        list.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
      );
    };
    const guard = new OutboundGuard("crm.internal", resolve);
    const lookup = (name: string, all: boolean) =>
      new Promise<{ err: any; address: any; family: number | undefined }>((done) =>
        guard.lookup(name, { all }, (err: any, address: any, family?: number) => done({ err, address, family })),
      );
    assert.deepEqual((await lookup("mixed.example", true)).address, [
      { address: "93.184.215.14", family: 4 },
      { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
    ]);
    const one = await lookup("mixed.example", false);
    assert.deepEqual([one.err, one.address, one.family], [null, "93.184.215.14", 4]);
    const refused = await lookup("inside.example", true);
    assert.equal(refused.err.code, "ERR_HERALD_OUTBOUND_REFUSED");
    assert.equal(
      refused.err.message,
      "refused: inside.example resolves to 10.0.0.5, a private address; allow it with --delivery-allow-hosts",
    );
    assert.deepEqual((await lookup("crm.internal", false)).address, "10.0.0.9");
    assert.equal((await lookup("nowhere.example", true)).err.code, "ENOTFOUND");
  });
});

describe("eventhos ActionCaller", () => {
  let server: Server;
  let base = "";
  const seen: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }> = [];
  const caller = new ActionCaller({ timeoutMs: 300, logBodyBytes: 8, allowHosts: "127.0.0.1" });
  const never = new AbortController().signal;
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url === "/hang") return;
        if (req.url === "/early") res.writeEarlyHints({ link: "</a.css>; rel=preload" });
        res.setHeader("x-twice", ["a", "b"]);
        res.writeHead(req.url === "/fail" ? 503 : 201, { "content-type": "text/plain" });
        res.end("0123456789abcdef".repeat(64));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await caller.close();
    server.closeAllConnections();
    server.close();
  });

  it("sends the request as given and logs the answer: status, headers (repeated ones joined), the body's head", async () => {
    const r = await caller.call({ method: "PUT", url: `${base}/x?y=1`, headers: { "x-a": "1" }, body: '{"k":"v"}' }, never);
    assert.deepEqual(seen.at(-1), { ...seen.at(-1)!, method: "PUT", url: "/x?y=1", body: '{"k":"v"}' });
    assert.equal(seen.at(-1)!.headers["x-a"], "1");
    assert.equal(r.ok, true);
    assert.equal(r.status, 201);
    assert.equal(r.body, "01234567");
    assert.equal(r.headers?.["x-twice"], "a, b");
    assert.equal(r.headers?.["content-type"], "text/plain");
    assert.equal(r.error, undefined);
    // Read whole, the connection serves the next call; an informational answer is not the outcome.
    const early = await caller.call({ method: "GET", url: `${base}/early`, headers: {}, body: undefined }, never);
    assert.equal(early.status, 201);
    const failed = await caller.call({ method: "POST", url: `${base}/fail`, headers: {}, body: "x" }, never);
    assert.deepEqual([failed.ok, failed.status, failed.error, failed.interrupted], [false, 503, "status 503", false]);
  });

  it("fails a call past its timeout, is interrupted by its signal, and refuses what it may not call", async () => {
    const slow = await caller.call({ method: "GET", url: `${base}/hang`, headers: {}, body: undefined }, never);
    assert.deepEqual([slow.ok, slow.interrupted, slow.error, slow.status], [false, false, "timed out after 300 ms", undefined]);
    const stop = new AbortController();
    const stopped = caller.call({ method: "GET", url: `${base}/hang`, headers: {}, body: undefined }, stop.signal);
    while (seen.filter((s) => s.url === "/hang").length < 2) await new Promise((r) => setImmediate(r));
    stop.abort();
    const interrupted = await stopped;
    assert.deepEqual([interrupted.ok, interrupted.interrupted, interrupted.error], [false, true, "interrupted: this instance is stopping"]);
    const scheme = await caller.call({ method: "GET", url: "ftp://127.0.0.1/", headers: {}, body: undefined }, never);
    assert.deepEqual([scheme.refused, scheme.error], [true, "refused: only http and https URLs are called"]);
    const bad = await caller.call({ method: "GET", url: "http://[oops/", headers: {}, body: undefined }, never);
    assert.deepEqual([bad.ok, bad.error], [false, "Invalid URL"]);
    const badHeader = await caller.call({ method: "GET", url: `${base}/x`, headers: { "x-bad": "a\r\nb" }, body: undefined }, never);
    assert.deepEqual([badHeader.ok, badHeader.error], [false, "invalid x-bad header"]);
  });
});
