import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { AppSchema, Role } from "../core/gen/herald/v1/registry_pb.js";
import { reasonOf } from "../core/rpc/errors.js";
import { Authenticator } from "../core/auth/authenticator.js";
import { newApiKey, parseApiKey, sha256 } from "../core/auth/api-key-format.js";
import { appToStore, inNetworks, parseNetwork, publicApp } from "../core/auth/legacy-access.js";
import { mayTouch, hasRole, type Principal } from "../core/auth/principal.js";
import { MemoryApiKeyStore } from "../core/store/memory-api-key-store.js";
import { LazyHandlerContext } from "../core/transport/handler-context.js";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";

const ADMIN = "an-admin-key-of-the-tests";

/** A call's context as a transport makes it: its protocol and its `authorization` header, if any. */
function call(protocolName: string, authorization?: string): HandlerContext {
  return new LazyHandlerContext({
    service: HubService,
    method: HubService.method.sendEvent,
    protocolName,
    signals: [],
    ...(authorization === undefined ? {} : { requestHeader: () => [["authorization", authorization]] }),
  });
}

async function refusal(p: Promise<unknown>): Promise<[Code, string | undefined]> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ConnectError, String(err));
    return [err.code, reasonOf(err)];
  }
  throw new Error("expected a refusal");
}

describe("Authenticator: who calls", () => {
  let keys: MemoryApiKeyStore;
  let now: number;
  let auth: Authenticator;
  const key = async (roles: Role[], appIds: string[], expiresMs = 0) => {
    const k = newApiKey();
    await keys.create({ id: k.id, name: "t", roles, appIds, hash: k.hash, createdMs: now, expiresMs });
    return k.key;
  };

  beforeEach(() => {
    keys = new MemoryApiKeyStore();
    now = 1_000_000;
    auth = new Authenticator({
      adminKey: ADMIN,
      apiKeys: keys,
      now: () => now,
      clientKeys: async (k) => (k === "hk_good" ? { clientId: "c1", appId: "shop" } : undefined),
      subscriberTokens: {
        verify: async (t) => {
          if (t === "a.b.c") return { appId: "shop", ksid: "k1" };
          throw new ConnectError("bad token", Code.Unauthenticated);
        },
      },
    });
  });

  it("lets everything through, as one open principal, when no admin key is configured", async () => {
    const open = new Authenticator({ adminKey: undefined, apiKeys: keys });
    assert.equal(open.enabled, false);
    assert.deepEqual(await open.principal(call("grpc")), { kind: "open" });
    assert.deepEqual(await open.principal(call("connect", "Bearer nonsense")), { kind: "open" });
  });

  it("takes a call without a credential as the facade only in-process; over a network it needs one", async () => {
    assert.deepEqual(await auth.principal(call("in-process")), { kind: "internal" });
    for (const protocol of ["grpc", "connect", "grpc_web"]) {
      assert.deepEqual(await refusal(auth.principal(call(protocol))), [Code.Unauthenticated, "CREDENTIAL_REQUIRED"], protocol);
    }
    // A credential in-process is checked like any other: the facade forwards its caller's.
    assert.deepEqual(await refusal(auth.principal(call("in-process", "Bearer wrong"))), [Code.Unauthenticated, "CREDENTIAL_INVALID"]);
  });

  it("refuses malformed headers and unknown credentials as invalid", async () => {
    for (const header of ["Basic YTpi", "Bearer", "Bearer  ", "Bearer a b", "bearer-less", `Token ${ADMIN}`]) {
      assert.deepEqual(await refusal(auth.principal(call("grpc", header))), [Code.Unauthenticated, "CREDENTIAL_INVALID"], header);
    }
    for (const credential of [`${ADMIN}x`, ADMIN.slice(1), "hak_short", "hak_0123456789abcdef_tooshort", "x".repeat(9000)]) {
      assert.deepEqual(await refusal(auth.ofCredential(credential)), [Code.Unauthenticated, "CREDENTIAL_INVALID"], credential.slice(0, 40));
    }
  });

  it("knows the admin key, in any case of the scheme", async () => {
    assert.deepEqual(await auth.principal(call("grpc", `Bearer ${ADMIN}`)), { kind: "admin" });
    assert.deepEqual(await auth.principal(call("grpc", `bearer ${ADMIN}`)), { kind: "admin" });
  });

  it("checks an API key's secret, revocation and expiry, and reads its roles and apps", async () => {
    const publish = await key([Role.PUBLISH], ["shop", "crm"], now + 1000);
    const p = await auth.ofCredential(publish);
    assert.equal(p.kind, "api-key");
    assert.ok(hasRole(p, [Role.PUBLISH]) && !hasRole(p, [Role.WATCH]));
    assert.ok(mayTouch(p, "shop") && mayTouch(p, "crm") && !mayTouch(p, "other"));

    const parsed = parseApiKey(publish)!;
    const forged = `hak_${parsed.id}_${"A".repeat(43)}`;
    assert.deepEqual(await refusal(auth.ofCredential(forged)), [Code.Unauthenticated, "CREDENTIAL_INVALID"], "right id, wrong secret");

    now += 1000;
    assert.deepEqual(await refusal(auth.ofCredential(publish)), [Code.Unauthenticated, "CREDENTIAL_EXPIRED"]);

    const watch = await key([Role.WATCH], ["*"]);
    assert.ok(mayTouch(await auth.ofCredential(watch), "anything"), "* is every app");
    await keys.revoke(parseApiKey(watch)!.id);
    assert.deepEqual(await refusal(auth.ofCredential(watch)), [Code.Unauthenticated, "CREDENTIAL_INVALID"], "revoked");

    const admin = await key([Role.ADMIN], ["*"]);
    const a = await auth.ofCredential(admin);
    assert.ok(hasRole(a, [Role.PUBLISH]) && hasRole(a, [Role.WATCH]) && mayTouch(a, "anything"), "admin holds every role");
  });

  it("tells a known key at once, every call, and stops the moment it is revoked, replaced or expired", async () => {
    const publish = await key([Role.PUBLISH], ["shop"], now + 1000);
    const header = `Bearer ${publish}`;
    const first = auth.principalNow(call("grpc", header));
    assert.equal(first?.kind, "api-key", "a record this instance holds: told at once");
    assert.equal(auth.principalNow(call("grpc", header)), first, "the same principal, from the remembered header");
    const forged = `Bearer hak_${parseApiKey(publish)!.id}_${"A".repeat(43)}`;
    assert.equal(auth.principalNow(call("grpc", forged)), undefined, "right id, wrong secret");

    now += 1000;
    assert.equal(auth.principalNow(call("grpc", header)), undefined, "expired");
    assert.deepEqual(await refusal(auth.principal(call("grpc", header))), [Code.Unauthenticated, "CREDENTIAL_EXPIRED"]);

    const watch = await key([Role.WATCH], ["*"]);
    const watchHeader = `Bearer ${watch}`;
    assert.ok(auth.principalNow(call("grpc", watchHeader)));
    const { id } = parseApiKey(watch)!;
    const record = (await keys.get(id))!;
    await keys.revoke(id);
    assert.equal(auth.principalNow(call("grpc", watchHeader)), undefined, "revoked");
    // Re-created under the same id with other roles: a new record, checked again.
    await keys.create({ ...record, roles: [Role.PUBLISH] });
    const again = auth.principalNow(call("grpc", watchHeader));
    assert.ok(again, "the new record, verified against its own hash");
    assert.ok(hasRole(again, [Role.PUBLISH]) && !hasRole(again, [Role.WATCH]));
  });

  it("hands eventhos access keys to eventhos and JWTs to the subscriber token check", async () => {
    assert.deepEqual(await auth.ofCredential("hk_good"), { kind: "client", clientId: "c1", appId: "shop" });
    assert.deepEqual(await auth.ofCredential("a.b.c"), { kind: "subscriber", appId: "shop", ksid: "k1" });
    assert.equal((await refusal(auth.ofCredential("x.y.z")))[0], Code.Unauthenticated);
    assert.deepEqual(await refusal(auth.ofCredential("hk_bad")), [Code.Unauthenticated, "CREDENTIAL_INVALID"]);
  });

  it("keeps API key secrets out of the store: only their SHA-256", () => {
    const k = newApiKey();
    const parsed = parseApiKey(k.key)!;
    assert.equal(parsed.id, k.id);
    assert.equal(k.hash, sha256(parsed.secret));
    assert.ok(!k.hash.includes(parsed.secret));
    assert.notEqual(newApiKey().key, k.key);
  });
});

describe("principals: roles and apps", () => {
  it("scopes subscribers and eventhos clients to their own app, and gives them no role", () => {
    const sub: Principal = { kind: "subscriber", appId: "shop", ksid: "k1" };
    const client: Principal = { kind: "client", clientId: "c", appId: "shop" };
    for (const p of [sub, client]) {
      assert.ok(mayTouch(p, "shop") && !mayTouch(p, "crm"));
      assert.ok(!hasRole(p, [Role.WATCH]) && !hasRole(p, [Role.PUBLISH]));
    }
  });
});

describe("legacy access of an app", () => {
  const app = (legacy: object) => create(AppSchema, { id: "shop", name: "Shop", published: true, legacy });

  it("keeps a legacy key as its SHA-256, keeps it on an upsert without one, drops it on clear_key", () => {
    const stored = appToStore(app({ key: "legacy-secret", networks: ["10.0.0.0/8"] }), undefined);
    assert.equal(stored.legacy?.key, sha256("legacy-secret"));
    const kept = appToStore(app({ networks: [] }), stored);
    assert.equal(kept.legacy?.key, sha256("legacy-secret"));
    assert.equal(appToStore(app({ clearKey: true }), stored).legacy?.key, "");
    assert.equal(appToStore(app({ key: "new-secret" }), stored).legacy?.key, sha256("new-secret"));
  });

  it("never shows the key or its hash, only whether there is one", () => {
    const shown = publicApp(appToStore(app({ key: "legacy-secret", xmsBasic: true }), undefined));
    assert.equal(shown.legacy?.key, "");
    assert.equal(shown.legacy?.hasKey, true);
    assert.equal(shown.legacy?.xmsBasic, true);
    assert.ok(!JSON.stringify(shown, (_, v) => (typeof v === "bigint" ? String(v) : v)).includes(sha256("legacy-secret")));
    assert.equal(publicApp(create(AppSchema, { id: "x" })).legacy?.hasKey, false);
  });

  it("reads networks as CIDRs and matches addresses as sockets report them", () => {
    const nets = ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"];
    assert.ok(inNetworks("10.1.2.3", nets));
    assert.ok(inNetworks("::ffff:10.1.2.3", nets), "IPv4-mapped, as a dual-stack socket reports it");
    assert.ok(inNetworks("192.168.1.7", nets));
    assert.ok(!inNetworks("192.168.1.8", nets));
    assert.ok(inNetworks("2001:db8::1", nets));
    assert.ok(!inNetworks("2001:db9::1", nets));
    assert.ok(!inNetworks("", nets));
    assert.ok(!inNetworks("10.1.2.3", []));
    for (const bad of ["10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/8/1", "::/129", "10.0.0.0/x"]) {
      assert.throws(
        () => parseNetwork(bad),
        (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument,
        bad,
      );
    }
    assert.throws(() => appToStore(app({ networks: ["nonsense"] }), undefined), /not a network/);
  });
});
