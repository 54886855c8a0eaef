import { strict as assert } from "node:assert";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { exportJWK, SignJWT, UnsecuredJWT, type JWTPayload } from "jose";
import { defaultAuthConfig, type AuthConfig } from "../../core/auth/auth-config.js";
import { AuthConfigError } from "../../core/auth/subscriber-tokens.js";
import { checkAuthConfig } from "../../server/auth-options.js";
import { registerApp, startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { assertWatchRefused, rawClients, rejection, unary, Watch, type RawClients } from "../support/grpc-client.js";
import { runHeraldCommand } from "../support/herald-process.js";
import { freePort } from "../support/free-port.js";

const ADMIN_KEY = "subscriber-tokens-admin-key-0123456789";
const HS_SECRET = "subscriber-token-secret-0123456789-abcdefghij";
const APP = "tok-a";
const OTHER_APP = "tok-b";

/** What a source signs with: its key and algorithm, and a key of the same kind Herald does not trust. */
interface Signer {
  alg: "HS256" | "RS256" | "ES256";
  key: KeyObject | Uint8Array;
  stranger: KeyObject | Uint8Array;
  kid?: string;
  /** Claims Herald is configured to require (iss, aud). */
  claims: JWTPayload;
}

interface Source {
  name: string;
  /** The auth section for this source, and the signer of its tokens; `close` frees what it opened. */
  setUp(dir: string): Promise<{ auth: Partial<AuthConfig>; signer: Signer; close?: () => Promise<void> }>;
}

const sources: Source[] = [
  {
    name: "HS256 secret (--jwt-secret-file)",
    async setUp() {
      const key = new TextEncoder().encode(HS_SECRET);
      const stranger = new TextEncoder().encode(`${HS_SECRET}-but-another-one`);
      return { auth: { jwtSecret: HS_SECRET }, signer: { alg: "HS256", key, stranger, claims: {} } };
    },
  },
  {
    name: "RS256 public key file (--jwt-public-key-file), with issuer and audience",
    async setUp(dir) {
      const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const file = join(dir, "tokens.pub.pem");
      writeFileSync(file, pair.publicKey.export({ type: "spki", format: "pem" }));
      const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      return {
        auth: { jwtPublicKeyFile: file, jwtIssuer: "https://idp.test", jwtAudience: "herald" },
        signer: { alg: "RS256", key: pair.privateKey, stranger, claims: { iss: "https://idp.test", aud: "herald" } },
      };
    },
  },
  {
    name: "ES256 keys of a JWKS URL (--jwks-url)",
    async setUp() {
      const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const kid = "tokens-1";
      const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" }] };
      const server: Server = createServer((req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(jwks));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      // Same kid, another key: a forged signature, not an unknown key.
      const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
      return {
        auth: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` },
        signer: { alg: "ES256", key: pair.privateKey, stranger, kid, claims: {} },
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
    },
  },
];

/** A token as an identity provider would issue it; `exp` in seconds from now (negative: already expired). */
function sign(
  s: Signer,
  claims: JWTPayload & { app?: string },
  opts: { exp?: number; key?: KeyObject | Uint8Array } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...s.claims, ...claims })
    .setProtectedHeader({ alg: s.alg, ...(s.kid ? { kid: s.kid } : {}) })
    .setIssuedAt(now - 120)
    .setExpirationTime(now + (opts.exp ?? 300))
    .sign(opts.key ?? s.key);
}

for (const source of sources) {
  describe(`subscriber tokens: ${source.name}`, () => {
    let h: TestHerald;
    let signer: Signer;
    let dir: string;
    let close: (() => Promise<void>) | undefined;
    let k1: string;
    let k2: string;
    const opened: RawClients[] = [];
    const withToken = (token: string) => {
      const c = rawClients(h.grpcPort, token);
      opened.push(c);
      return c;
    };
    const subscribe = async (deviceId: string) =>
      (
        await unary<{ ksid: string }>(h.clients.registry, "subscribe", {
          appId: APP,
          deviceId,
          ufid: `u-${deviceId}`,
          osType: "androidgcm",
        })
      ).ksid;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "herald-tokens-"));
      const set = await source.setUp(dir);
      signer = set.signer;
      close = set.close;
      h = await startTestHerald({ auth: { adminKey: ADMIN_KEY, ...set.auth } });
      await registerApp(h, APP);
      await registerApp(h, OTHER_APP);
      k1 = await subscribe("dev-1");
      k2 = await subscribe("dev-2");
    });
    after(async () => {
      for (const c of opened) c.close();
      await h?.stop();
      await close?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it("watches its own ksid: events targeted at it and broadcasts of its app, not events for another ksid", async () => {
      const token = await sign(signer, { sub: k1, app: APP });
      const live = watchersLive(h, 2);
      // No ksid in the request: the token's is the one watched.
      const watcher = new Watch(withToken(token).hub, { appId: APP });
      // The admin's view of the whole app, to show that the event for k2 was published.
      const everything = new Watch(h.clients.hub, { appId: APP });
      await live;
      const send = (req: object) => unary<{ msgId: string }>(h.clients.hub, "sendEvent", { eventId: `${APP}-e`, ...req });
      const toK1 = await send({ subscribers: [{ ksid: k1 }] });
      const toK2 = await send({ subscribers: [{ ksid: k2 }] });
      await unary(h.clients.hub, "sendEvent", { eventId: `${OTHER_APP}-e` });
      const broadcast = await send({});
      // Arriving after the event for k2, this shows that one was passed over, not still on its way.
      const later = await send({ subscribers: [{ ksid: k1 }] });
      await everything.received(4);
      await watcher.received(3);
      assert.deepEqual(
        everything.events.map((e) => e.msgId),
        [toK1.msgId, toK2.msgId, broadcast.msgId, later.msgId],
      );
      assert.deepEqual(
        watcher.events.map((e) => e.msgId),
        [toK1.msgId, broadcast.msgId, later.msgId],
      );
      for (const w of [watcher, everything]) w.cancel();

      // Naming its own ksid is allowed too.
      const ownLive = watchersLive(h);
      const own = new Watch(withToken(token).hub, { appId: APP, ksid: k1 });
      await ownLive;
      const again = await send({ subscribers: [{ ksid: k1 }] });
      await own.received(1);
      assert.equal(own.events[0]!.msgId, again.msgId);
      own.cancel();
    });

    it("may not watch another app, another ksid or an event handler (PERMISSION_DENIED)", async () => {
      const hub = withToken(await sign(signer, { sub: k1, app: APP })).hub;
      const denied = grpc.status.PERMISSION_DENIED;
      await assertWatchRefused(hub, { appId: OTHER_APP }, denied, "APP_NOT_ALLOWED");
      await assertWatchRefused(hub, { appId: OTHER_APP, ksid: k1 }, denied, "APP_NOT_ALLOWED");
      await assertWatchRefused(hub, { appId: APP, ksid: k2 }, denied, "SUBSCRIBER_SCOPE");
      await assertWatchRefused(hub, { appId: APP, handlerId: "h-1" }, denied, "SUBSCRIBER_SCOPE");
    });

    it("may call nothing but WatchEvents: SendEvent and registry reads are PERMISSION_DENIED", async () => {
      const c = withToken(await sign(signer, { sub: k1, app: APP }));
      const calls: Array<[RawClients["hub"], string, object]> = [
        [c.hub, "sendEvent", { appId: APP, eventId: `${APP}-e`, subscribers: [{ ksid: k1 }] }],
        [c.registry, "getSubscriber", { ksid: k1 }],
        [c.registry, "createApiKey", { roles: ["ROLE_ADMIN"] }],
      ];
      for (const [client, method, req] of calls) {
        const err = await rejection(unary(client, method, req));
        assert.equal(err.code, grpc.status.PERMISSION_DENIED, `${method}: ${err.details}`);
        assert.deepEqual(err.metadata.get("herald-reason"), ["SUBSCRIBER_SCOPE"], method);
      }
    });

    it("refuses an expired token (CREDENTIAL_EXPIRED) and one signed by another key (CREDENTIAL_INVALID)", async () => {
      const expired = await sign(signer, { sub: k1, app: APP }, { exp: -60 });
      await assertWatchRefused(withToken(expired).hub, { appId: APP }, grpc.status.UNAUTHENTICATED, "CREDENTIAL_EXPIRED");
      const forged = await sign(signer, { sub: k1, app: APP }, { key: signer.stranger });
      await assertWatchRefused(withToken(forged).hub, { appId: APP }, grpc.status.UNAUTHENTICATED, "CREDENTIAL_INVALID");
      const err = await rejection(unary(withToken(forged).hub, "sendEvent", { appId: APP, eventId: `${APP}-e` }));
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      assert.deepEqual(err.metadata.get("herald-reason"), ["CREDENTIAL_INVALID"]);
      // Not signed at all (alg "none"): never accepted, whatever it claims.
      const unsecured = new UnsecuredJWT({ ...signer.claims, sub: k1, app: APP }).setExpirationTime("5m").encode();
      await assertWatchRefused(withToken(unsecured).hub, { appId: APP }, grpc.status.UNAUTHENTICATED, "CREDENTIAL_INVALID");
    });

    it("refuses tokens without the claims it needs (CREDENTIAL_INVALID)", async () => {
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: signer.alg, ...(signer.kid ? { kid: signer.kid } : {}) };
      const tokens: Record<string, string> = {
        "no app": await sign(signer, { sub: k1 }),
        "no sub": await sign(signer, { app: APP }),
        "empty app": await sign(signer, { sub: k1, app: "" }),
        "no exp": await new SignJWT({ ...signer.claims, sub: k1, app: APP }).setProtectedHeader(header).setIssuedAt(now).sign(signer.key),
      };
      if (signer.claims.iss !== undefined) {
        tokens["another issuer"] = await sign(signer, { sub: k1, app: APP, iss: "https://elsewhere.test" });
        tokens["another audience"] = await sign(signer, { sub: k1, app: APP, aud: "not-herald" });
      }
      for (const [what, token] of Object.entries(tokens)) {
        const status = await new Watch(withToken(token).hub, { appId: APP }).status;
        assert.equal(status.code, grpc.status.UNAUTHENTICATED, `${what}: ${status.details}`);
        assert.deepEqual(status.metadata.get("herald-reason"), ["CREDENTIAL_INVALID"], what);
      }
    });
  });
}

describe("subscriber tokens: a JWKS URL that cannot be fetched", () => {
  let h: TestHerald;
  let server: Server;
  let serving = false;
  let fetches = 0;
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const opened: RawClients[] = [];

  before(async () => {
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k", alg: "ES256" }] };
    // Down (503) until the test says otherwise.
    server = createServer((req, res) => {
      fetches++;
      res.statusCode = serving ? 200 : 503;
      res.setHeader("content-type", "application/json");
      res.end(serving ? JSON.stringify(jwks) : "{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    h = await startTestHerald({ auth: { adminKey: ADMIN_KEY, jwksUrl: `http://127.0.0.1:${port}/jwks` } });
    await registerApp(h, APP);
  });
  after(async () => {
    for (const c of opened) c.close();
    await h?.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("answers UNAVAILABLE (retry), not CREDENTIAL_INVALID, while the keys cannot be fetched; the same token works once they can", async () => {
    const { ksid } = await unary<{ ksid: string }>(h.clients.registry, "subscribe", { appId: APP, deviceId: "d1", osType: "androidgcm" });
    const token = await new SignJWT({ sub: ksid, app: APP })
      .setProtectedHeader({ alg: "ES256", kid: "k" })
      .setExpirationTime("5m")
      .sign(pair.privateKey);
    const c = rawClients(h.grpcPort, token);
    opened.push(c);
    await assertWatchRefused(c.hub, { appId: APP }, grpc.status.UNAVAILABLE, "UNAVAILABLE");
    assert.ok(fetches >= 1, "Herald asked the JWKS URL");
    serving = true;
    const live = watchersLive(h);
    const watch = new Watch(c.hub, { appId: APP });
    await live;
    const sent = await unary(h.clients.hub, "sendEvent", { eventId: `${APP}-e` });
    await watch.received(1);
    assert.equal(watch.events[0]!.msgId, sent.msgId);
    watch.cancel();
  });

  it("answers UNAVAILABLE when nothing listens at the URL", async () => {
    const closed = await freePort();
    const down = await startTestHerald({ auth: { adminKey: ADMIN_KEY, jwksUrl: `http://127.0.0.1:${closed}/jwks` } });
    const { ksid } = await unary<{ ksid: string }>(h.clients.registry, "subscribe", { appId: APP, deviceId: "d1", osType: "androidgcm" });
    const token = await new SignJWT({ sub: ksid, app: APP })
      .setProtectedHeader({ alg: "ES256", kid: "k" })
      .setExpirationTime("5m")
      .sign(pair.privateKey);
    const c = rawClients(down.grpcPort, token);
    try {
      await assertWatchRefused(c.hub, { appId: APP }, grpc.status.UNAVAILABLE, "UNAVAILABLE");
    } finally {
      c.close();
      await down.stop();
    }
  });
});

describe("subscriber tokens: settings that cannot work refuse the start", () => {
  const base: AuthConfig = { ...defaultAuthConfig, adminKey: ADMIN_KEY };
  let dir: string;
  let pem: string;
  let p384: string;
  let rsa1024: string;
  let ed25519: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "herald-tokens-"));
    const write = (name: string, key: KeyObject) => {
      const file = join(dir, name);
      writeFileSync(file, key.export({ type: "spki", format: "pem" }));
      return file;
    };
    pem = write("p256.pem", generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
    p384 = write("p384.pem", generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey);
    rsa1024 = write("rsa1024.pem", generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey);
    ed25519 = write("ed25519.pem", generateKeyPairSync("ed25519").publicKey);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("checkAuthConfig: tokens without an admin key, a short admin key", () => {
    assert.throws(() => checkAuthConfig({ ...base, adminKey: undefined, jwtSecret: HS_SECRET }), AuthConfigError);
    assert.throws(() => checkAuthConfig({ ...base, adminKey: undefined, jwksUrl: "https://idp.test/jwks" }), /need access control on/);
    assert.throws(() => checkAuthConfig({ ...base, adminKey: "short" }), /at least 16 characters/);
    checkAuthConfig({ ...base, jwtSecret: HS_SECRET });
  });

  it("startHerald: two sources at once, a short HS256 secret, no admin key", async () => {
    const refused: Array<[Partial<AuthConfig>, RegExp]> = [
      [{ jwtSecret: HS_SECRET, jwtPublicKeyFile: pem }, /give one of --jwt-secret-file, --jwt-public-key-file, --jwks-url/],
      [{ jwtPublicKeyFile: pem, jwksUrl: "https://idp.test/jwks" }, /give one of/],
      [{ jwtSecret: "too-short-a-secret" }, /at least 32 bytes/],
      [{ adminKey: undefined, jwtSecret: HS_SECRET }, /need access control on/],
      [{ jwtPublicKeyFile: join(dir, "missing.pem") }, /--jwt-public-key-file .*missing\.pem/],
      [{ jwksUrl: "not a url" }, /--jwks-url .* is not a URL/],
      // Keys that cannot verify RS256/ES256 at all: refused here rather than failing every token.
      [{ jwtPublicKeyFile: p384 }, /ES256 needs a P-256 \(prime256v1\) key, got secp384r1/],
      [{ jwtPublicKeyFile: rsa1024 }, /RS256 needs an RSA key of 2048 bits or more, got 1024/],
      [{ jwtPublicKeyFile: ed25519 }, /an RSA or EC public key is needed, got ed25519/],
    ];
    for (const [auth, message] of refused) {
      await assert.rejects(
        startTestHerald({ auth: { ...base, ...auth } }),
        (err: unknown) => err instanceof AuthConfigError && message.test(err.message),
        JSON.stringify(auth),
      );
    }
  });

  it("the executable exits 2 with the reason, before listening", async () => {
    const r = await runHeraldCommand(["--grpc-port", "0", "--http-port", "0"], {
      REDIS_URL: "",
      HERALD_ADMIN_KEY: "",
      HERALD_JWT_SECRET: HS_SECRET,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^herald: subscriber tokens need access control on/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
