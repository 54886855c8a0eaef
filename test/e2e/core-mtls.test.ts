import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import { runHeraldCommand, startFacadeProcess, startHeraldProcess, type HeraldProcess } from "../support/herald-process.js";
import { get, post } from "../support/http.js";
import { makeTestPki, type TestPki } from "../support/tls.js";
import { hasOpenssl } from "../support/tls.js";
import { killProcess as stop } from "../support/herald-process.js";

const XMS_HANDLER = '<web_service version="1.0"><eventhandler><eventsubscribe type="any"/></eventhandler></web_service>';

/** A facade (`--core-url https://…`) in front of a core that asks its clients for a certificate (`--tls-client-ca`). */
describe("facade → core over mTLS (--core-client-cert, --core-client-key)", () => {
  let pki: TestPki;
  let core: HeraldProcess;
  let coreUrl: string;
  const started: HeraldProcess[] = [];
  const facade = async (args: string[], env: Record<string, string> = {}) => {
    const f = await startFacadeProcess(["--core-url", coreUrl, "--core-ca", pki.ca.cert, ...args], env);
    started.push(f);
    return f;
  };
  const createHandler = (f: HeraldProcess) =>
    post(`http://127.0.0.1:${f.httpPort}/eventhandlers?appid=demo`, XMS_HANDLER, "application/xml");

  before(async function () {
    if (!hasOpenssl()) this.skip(); // certificates are made with the openssl command
    pki = await makeTestPki();
    core = await startHeraldProcess([
      ...["--seed", "examples/seed.yaml", "--tls-cert", pki.server.cert, "--tls-key", pki.server.key],
      ...["--tls-client-ca", pki.ca.cert],
    ]);
    coreUrl = `https://127.0.0.1:${core.grpcPort}`;
  });
  after(() => {
    for (const f of started) stop(f);
    stop(core);
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("without a client certificate the core refuses the facade: XMS answers its own 500, and the facade lives on", async () => {
    const f = await facade([]);
    const refused = await createHandler(f);
    assert.equal(refused.status, 500, refused.body);
    assert.match(refused.contentType ?? "", /^application\/xml/);
    assert.equal(refused.body, '<web_service version="1.0">\n<error status="500" reason="internal server error"/>\n</web_service>\n');
    // Still serving: another request gets the same answer, health is fine.
    assert.equal((await createHandler(f)).status, 500);
    assert.equal((await get(`http://127.0.0.1:${f.httpPort}/healthz`)).status, 200);
    assert.equal(f.proc.exitCode, null, "the facade did not crash");
    assert.ok(
      f.logs.some((l) => l["coreClientCert"] === false),
      "its start line says it presents no certificate",
    );
  });

  it("with a certificate of another CA the core refuses it too", async () => {
    const f = await facade(["--core-client-cert", pki.otherClient.cert, "--core-client-key", pki.otherClient.key]);
    assert.equal((await createHandler(f)).status, 500);
    assert.equal(f.proc.exitCode, null);
  });

  it("with a certificate the core's CA signed (flags or environment), the facade works", async () => {
    const byFlags = await facade(["--core-client-cert", pki.client.cert, "--core-client-key", pki.client.key]);
    const byEnv = await facade([], { HERALD_CORE_CLIENT_CERT: pki.client.cert, HERALD_CORE_CLIENT_KEY: pki.client.key });
    for (const f of [byFlags, byEnv]) {
      assert.ok(f.logs.some((l) => l["coreClientCert"] === true));
      const created = await createHandler(f);
      assert.equal(created.status, 201, created.body);
      const id = /identifier="([^"]+)"/.exec(created.body)?.[1];
      assert.ok(id, created.body);
      const listed = await get(`http://127.0.0.1:${f.httpPort}/eventhandlers?appid=demo`);
      assert.equal(listed.status, 200);
      assert.ok(listed.body.includes(id), "the core holds it");
    }
  });

  it("refuses to start with half a pair, a key that is not the certificate's, or a plain http:// core", async function () {
    // Six Herald processes start at once: on a busy 2-core machine their imports alone take ~20 s.
    this.timeout(90_000);
    const cases: Array<[string[], RegExp]> = [
      [["--core-url", coreUrl, "--core-client-cert", pki.client.cert], /--core-client-cert and --core-client-key go together/],
      [["--core-url", coreUrl, "--core-client-key", pki.client.key], /go together/],
      [
        ["--core-url", coreUrl, "--core-client-cert", pki.client.cert, "--core-client-key", pki.otherClient.key],
        /--core-client-key .* is not the key of the certificate in --core-client-cert/,
      ],
      [
        ["--core-url", coreUrl, "--core-client-cert", pki.client.key, "--core-client-key", pki.client.key],
        /--core-client-cert .*: not a PEM certificate/,
      ],
      [["--core-url", coreUrl, "--core-client-cert", `${pki.dir}/none.pem`, "--core-client-key", pki.client.key], /no such file/],
      [
        ["--core-url", `http://127.0.0.1:${core.grpcPort}`, "--core-client-cert", pki.client.cert, "--core-client-key", pki.client.key],
        /--core-client-cert is for an https:\/\/ --core-url/,
      ],
    ];
    const results = await Promise.all(
      cases.map(([args]) => runHeraldCommand(["--http-port", "0", ...args], { REDIS_URL: "", LOG_LEVEL: "info" })),
    );
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      const out = r.stdout + r.stderr;
      assert.match(out, /could not start/);
      assert.match(out, message);
      assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
      assert.doesNotMatch(out, /facade started/);
    });
  });

  it("herald keys reaches such a core with --client-cert/--client-key, and exits 3 without", async () => {
    const keys = (extra: string[]) =>
      runHeraldCommand(["keys", "list", "--address", coreUrl, "--ca", pki.ca.cert, ...extra], { HERALD_KEY: "", HERALD_KEY_FILE: "" });
    const [ok, none, plain] = await Promise.all([
      keys(["--client-cert", pki.client.cert, "--client-key", pki.client.key]),
      keys([]),
      runHeraldCommand(["keys", "list", "--address", `http://127.0.0.1:${core.grpcPort}`], { HERALD_KEY: "" }),
    ]);
    // No admin key configured on this core: access control is off, the list is open.
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^ID\s+NAME\s+ROLES/);
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /^herald keys: cannot reach Herald at https:\/\/127\.0\.0\.1:\d+: /);
    assert.equal(none.stderr.trimEnd().split("\n").length, 1, none.stderr);
    assert.match(none.stderr, /--client-cert/, "says what is missing");
    // Plain HTTP/2 to the TLS port: cut off, which is unreachable too.
    assert.equal(plain.code, 3, plain.stderr);
    assert.match(plain.stderr, /^herald keys: cannot reach Herald at http:.*https:\/\//);
  });
});
