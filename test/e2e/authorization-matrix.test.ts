import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import { RegistryService, Role } from "../../core/gen/herald/v1/registry_pb.js";
import { PushChannel } from "../../core/gen/herald/v1/push_pb.js";
import { ClientService, DeliveryService } from "../../core/gen/herald/v1/eventhos_pb.js";
import { reasonOf } from "../../core/rpc/errors.js";
import { startTestHerald, type TestHerald } from "../support/herald.js";

/**
 * The authorization matrix: every RPC of every service Herald serves, on every transport, for every
 * kind of caller. The methods come from the service descriptors, so an RPC added without a row in
 * `access` below fails here. The expectations are written from the README's promise (the access
 * class of each method), not read from core/auth/policy.ts, so a wrong rule there shows up too. The
 * README's table is generated from the same rows and checked at the end.
 */

const ADMIN_KEY = "matrix-admin-key-0123456789";
const JWT_SECRET = "matrix-subscriber-token-secret-0123456789abcdef";
const APP = "mx";
const OTHER = "mx-other";

/** What a method admits besides admin credentials. */
type Access =
  /** Admin credentials only. */
  | "admin"
  /** API keys with publish on the app. */
  | "publish"
  /** Publish keys; keys of other apps see nothing (NOT_FOUND), not a refusal. */
  | "publish-own"
  /** API keys with watch on the app. */
  | "watch"
  /** Watch keys, and subscriber tokens of the app (narrowed to their ksid). */
  | "watch-subscriber"
  /** Publish or watch keys on the app. */
  | "read"
  /** Admin, and eventhos clients for their own records. */
  | "admin-client"
  /** No API credential: the request carries its own (or needs none). */
  | "open";

const services: DescService[] = [HubService, RegistryService, ClientService, DeliveryService];

const access: Record<string, Access> = {
  "HubService.SendEvent": "publish",
  "HubService.SendPush": "publish",
  "HubService.SendPushBatch": "publish",
  "HubService.SendEventBatch": "publish",
  "HubService.WatchEvents": "watch-subscriber",
  "HubService.GetMessageStatus": "publish-own",
  "RegistryService.UpsertApp": "admin",
  "RegistryService.GetApp": "read",
  "RegistryService.ListApps": "admin",
  "RegistryService.DeleteApp": "admin",
  "RegistryService.UpsertEvent": "admin",
  "RegistryService.GetEvent": "read",
  "RegistryService.ListEvents": "read",
  "RegistryService.DeleteEvent": "admin",
  "RegistryService.Subscribe": "read",
  "RegistryService.Unsubscribe": "read",
  "RegistryService.GetSubscriber": "read",
  "RegistryService.ListSubscribers": "read",
  "RegistryService.CreateEventHandler": "watch",
  "RegistryService.GetEventHandler": "watch",
  "RegistryService.ListEventHandlers": "watch",
  "RegistryService.UpdateEventHandler": "watch",
  "RegistryService.DeleteEventHandler": "watch",
  "RegistryService.CreateApiKey": "admin",
  "RegistryService.ListApiKeys": "admin",
  "RegistryService.RevokeApiKey": "admin",
  "RegistryService.AuthorizeLegacy": "admin",
  "RegistryService.SetPushProvider": "admin",
  "RegistryService.GetPushProviders": "admin",
  "RegistryService.ClearPushProvider": "admin",
  "ClientService.UpsertClient": "admin",
  "ClientService.GetClient": "admin",
  "ClientService.ListClients": "admin",
  "ClientService.DeleteClient": "admin",
  "ClientService.IssueToken": "open",
  "ClientService.CreateKey": "admin",
  "ClientService.RevokeKey": "admin",
  "ClientService.Authorize": "open",
  "DeliveryService.UpsertAction": "admin",
  "DeliveryService.GetAction": "admin",
  "DeliveryService.ListActions": "admin",
  "DeliveryService.DeleteAction": "admin",
  "DeliveryService.UpsertContract": "admin",
  "DeliveryService.GetContract": "admin",
  "DeliveryService.ListContracts": "admin",
  "DeliveryService.DeleteContract": "admin",
  "DeliveryService.ReceiveEvent": "open",
  "DeliveryService.ListReceivedEvents": "admin-client",
  "DeliveryService.GetReceivedEvent": "admin-client",
  "DeliveryService.GetExecution": "admin-client",
  "DeliveryService.RetryExecution": "admin-client",
};

type Principal =
  | "none"
  | "malformed"
  | "expired"
  | "revoked"
  | "wrong app"
  | "watch-only"
  | "publish-only"
  | "admin"
  | "subscriber token"
  | "eventhos client";
const principals: Principal[] = [
  "none",
  "malformed",
  "expired",
  "revoked",
  "wrong app",
  "watch-only",
  "publish-only",
  "admin",
  "subscriber token",
  "eventhos client",
];

/** OK: past the authorization layer (the handler may still refuse the request on its merits). */
type Outcome = "OK" | "UNAUTHENTICATED" | "PERMISSION_DENIED" | "NOT_FOUND";

function expected(a: Access, p: Principal): Outcome {
  if (a === "open") return "OK";
  switch (p) {
    case "none":
    case "malformed":
    case "expired":
    case "revoked":
      return "UNAUTHENTICATED";
    case "admin":
      return "OK";
    case "wrong app":
      // Keys for another app hold both roles: refused for the app, or shown nothing.
      return a === "publish-own" ? "NOT_FOUND" : "PERMISSION_DENIED";
    case "watch-only":
      return a === "watch" || a === "watch-subscriber" || a === "read" ? "OK" : "PERMISSION_DENIED";
    case "publish-only":
      return a === "publish" || a === "publish-own" || a === "read" ? "OK" : "PERMISSION_DENIED";
    case "subscriber token":
      return a === "watch-subscriber" ? "OK" : "PERMISSION_DENIED";
    case "eventhos client":
      return a === "admin-client" ? "OK" : "PERMISSION_DENIED";
  }
}

/** The reasons only the authorization layer gives: any other error means the call got past it. */
const layerReasons = new Set([
  "CREDENTIAL_REQUIRED",
  "CREDENTIAL_INVALID",
  "CREDENTIAL_EXPIRED",
  "ROLE_REQUIRED",
  "APP_NOT_ALLOWED",
  "SUBSCRIBER_SCOPE",
]);

function outcome(err: unknown): Outcome {
  if (err === undefined) return "OK";
  const e = ConnectError.from(err);
  const reason = reasonOf(e);
  if (e.code === Code.Unauthenticated && layerReasons.has(reason ?? "")) return "UNAUTHENTICATED";
  if (e.code === Code.PermissionDenied && layerReasons.has(reason ?? "")) return "PERMISSION_DENIED";
  if (e.code === Code.NotFound && reason === "MESSAGE_NOT_FOUND") return "NOT_FOUND";
  return "OK";
}

const name = (m: DescMethod) => `${m.parent.name}.${m.name}`;

describe("authorization matrix: every RPC × every transport × every kind of caller", function () {
  this.timeout(120_000);
  let h: TestHerald;
  const credentials = new Map<Principal, string | undefined>();
  /** Requests per method; a function makes a fresh one per call (for calls that use up what they touch). */
  let requests: Record<string, object | (() => Promise<object>)>;
  let transports: Record<string, (service: DescService) => Client<DescService>>;

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN_KEY, jwtSecret: JWT_SECRET } });
    // The fixtures are made in-process, as the facade itself.
    const registry = h.inProcess(RegistryService);
    const hub = h.inProcess(HubService);
    const clients = h.inProcess(ClientService);
    for (const id of [APP, OTHER]) await registry.upsertApp({ app: { id, name: id, published: true } });
    await registry.upsertEvent({ event: { id: `${APP}-e`, appId: APP, name: "e", published: true } });
    const { ksid } = await registry.subscribe({ appId: APP, deviceId: "d0", osType: "iphone" });
    const handler = (await registry.createEventHandler({ appId: APP, subscriptions: [{ type: "any" }] })).handler!;
    // Something in history for watchers to replay: a passing WatchEvents yields it at once.
    const { msgId } = await hub.sendEvent({ eventId: `${APP}-e` });
    await clients.upsertClient({ client: { id: "mx-client", appId: APP, name: "c" }, secret: "mx-client-secret" });
    const { key: clientKey } = await clients.createKey({ clientId: "mx-client" });

    const key = async (roles: Role[], appIds: string[], ttlSeconds = 0n) =>
      (await registry.createApiKey({ name: "matrix", roles, appIds, ttlSeconds })).secret;
    const revoked = await key([Role.ADMIN], []);
    await registry.revokeApiKey({ id: revoked.split("_")[1] ?? "" });
    const secret = new TextEncoder().encode(JWT_SECRET);
    const token = (exp: number) =>
      new SignJWT({ app: APP }).setProtectedHeader({ alg: "HS256" }).setSubject(ksid).setExpirationTime(exp).sign(secret);
    const now = Math.floor(Date.now() / 1000);
    credentials.set("none", undefined);
    credentials.set("malformed", "Basic bWF0cml4OnNlY3JldA==");
    credentials.set("expired", `Bearer ${await token(now - 60)}`);
    credentials.set("revoked", `Bearer ${revoked}`);
    credentials.set("wrong app", `Bearer ${await key([Role.PUBLISH, Role.WATCH], [OTHER])}`);
    credentials.set("watch-only", `Bearer ${await key([Role.WATCH], [APP])}`);
    credentials.set("publish-only", `Bearer ${await key([Role.PUBLISH], [APP])}`);
    credentials.set("admin", `Bearer ${await key([Role.ADMIN], ["*"])}`);
    credentials.set("subscriber token", `Bearer ${await token(now + 3600)}`);
    credentials.set("eventhos client", `Bearer ${clientKey}`);

    requests = {
      "HubService.SendEvent": { appId: APP, eventId: `${APP}-e` },
      "HubService.SendPush": { appId: APP, allActive: true, content: { data: "hi" } },
      "HubService.SendPushBatch": { appId: APP, pushes: [{ allActive: true, content: { data: "hi" } }] },
      "HubService.SendEventBatch": { appId: APP, events: [{ eventId: `${APP}-e` }] },
      "HubService.WatchEvents": { appId: APP, resumeAfter: 0n },
      "HubService.GetMessageStatus": { requestId: msgId },
      "RegistryService.UpsertApp": { app: { id: `${APP}-new`, name: "n" } },
      "RegistryService.GetApp": { id: APP },
      "RegistryService.ListApps": {},
      "RegistryService.DeleteApp": { id: `${APP}-none` },
      "RegistryService.UpsertEvent": { event: { id: `${APP}-e2`, appId: APP, name: "e2" } },
      "RegistryService.GetEvent": { id: `${APP}-e` },
      "RegistryService.ListEvents": { appId: APP },
      "RegistryService.DeleteEvent": { id: "none" },
      "RegistryService.Subscribe": { appId: APP, deviceId: "d1", osType: "iphone" },
      // Each call unsubscribes a subscriber of its own.
      "RegistryService.Unsubscribe": async () => ({
        ksid: (await registry.subscribe({ appId: APP, deviceId: `u${++devices}`, osType: "iphone" })).ksid,
      }),
      "RegistryService.GetSubscriber": { ksid },
      "RegistryService.ListSubscribers": { appId: APP },
      "RegistryService.CreateEventHandler": { appId: APP, subscriptions: [{ type: "ringing" }] },
      "RegistryService.GetEventHandler": { appId: APP, id: handler.id },
      "RegistryService.ListEventHandlers": { appId: APP },
      "RegistryService.UpdateEventHandler": { appId: APP, id: handler.id, changes: [] },
      "RegistryService.DeleteEventHandler": { appId: APP, id: "none" },
      "RegistryService.CreateApiKey": { name: "k", roles: [Role.WATCH], appIds: [APP] },
      "RegistryService.ListApiKeys": {},
      "RegistryService.RevokeApiKey": { id: "0000000000000000" },
      "RegistryService.AuthorizeLegacy": { appId: APP, role: Role.WATCH, xms: true },
      "RegistryService.SetPushProvider": { provider: { appId: APP, config: { case: "fcm", value: { projectId: "p" } } } },
      "RegistryService.GetPushProviders": { appId: APP },
      "RegistryService.ClearPushProvider": { appId: APP, channel: PushChannel.FCM },
      "ClientService.UpsertClient": { client: { id: "mx-client-2", appId: APP, name: "c2" }, secret: "another-secret" },
      "ClientService.GetClient": { id: "mx-client" },
      "ClientService.ListClients": {},
      "ClientService.DeleteClient": { id: "none" },
      "ClientService.IssueToken": { clientId: "mx-client", clientSecret: "wrong" },
      "ClientService.CreateKey": { clientId: "none" },
      "ClientService.RevokeKey": { clientId: "mx-client", keyId: "none" },
      "ClientService.Authorize": { accessKey: "", eventId: `${APP}-e` },
      "DeliveryService.UpsertAction": { action: { id: "mx-a", appId: APP, name: "a", method: "POST", url: "https://example.invalid/" } },
      "DeliveryService.GetAction": { id: "none" },
      "DeliveryService.ListActions": {},
      "DeliveryService.DeleteAction": { id: "none" },
      "DeliveryService.UpsertContract": { contract: { id: "mx-c", eventId: `${APP}-e`, actionId: "none" } },
      "DeliveryService.GetContract": { id: "none" },
      "DeliveryService.ListContracts": {},
      "DeliveryService.DeleteContract": { id: "none" },
      "DeliveryService.ReceiveEvent": { msgId: "1", eventId: `${APP}-e`, accessKey: "" },
      "DeliveryService.ListReceivedEvents": {},
      "DeliveryService.GetReceivedEvent": { id: "none" },
      "DeliveryService.GetExecution": { id: "none" },
      "DeliveryService.RetryExecution": { id: "none" },
    };

    grpcSession = new Http2SessionManager(`http://127.0.0.1:${h.grpcPort}`);
    const grpc = createGrpcTransport({ baseUrl: `http://127.0.0.1:${h.grpcPort}`, sessionManager: grpcSession });
    const connect = createConnectTransport({ baseUrl: `http://127.0.0.1:${h.httpPort}`, httpVersion: "1.1" });
    const grpcWeb = createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${h.httpPort}`, httpVersion: "1.1" });
    const over = (t: Transport) => (s: DescService) => createClient(s, t) as Client<DescService>;
    transports = {
      "gRPC (grpc-js port)": over(grpc),
      Connect: over(connect),
      "gRPC-Web": over(grpcWeb),
      "in-process (the facade's)": (s) => h.inProcess(s) as Client<DescService>,
    };
  });
  let devices = 0;
  let grpcSession: Http2SessionManager | undefined;
  after(async () => {
    // The client's connection first: the server then closes without waiting out its grace period.
    grpcSession?.abort();
    await h.stop();
  });

  it("has a row for every RPC the services declare, and no row for one they do not", () => {
    const declared = services.flatMap((s) => s.methods.map(name));
    const missing = declared.filter((m) => !(m in access));
    assert.deepEqual(missing, [], "a new RPC needs its row in `access` (and the README's table)");
    assert.deepEqual(
      Object.keys(access).filter((m) => !declared.includes(m)),
      [],
    );
  });

  for (const transport of ["gRPC (grpc-js port)", "Connect", "gRPC-Web", "in-process (the facade's)"]) {
    it(`answers as the matrix says over ${transport}`, async () => {
      const wrong: string[] = [];
      let calls = 0;
      for (const service of services) {
        const client = transports[transport]!(service) as unknown as Record<string, (req: object, opts: object) => unknown>;
        for (const method of service.methods) {
          const row = access[name(method)]!;
          for (const p of principals) {
            const credential = credentials.get(p);
            // In-process without a credential is the facade itself, which checked its own client first.
            const want: Outcome = transport.startsWith("in-process") && p === "none" ? "OK" : expected(row, p);
            const given = requests[name(method)]!;
            const request = typeof given === "function" ? await given() : given;
            const options = credential === undefined ? {} : { headers: { authorization: credential } };
            let err: unknown;
            try {
              if (method.methodKind === "server_streaming") {
                const stream = client[method.localName]!(request, options) as AsyncIterable<unknown>;
                // A stream that got past the layer replays the event sent in `before` at once.
                for await (const _ of stream) break;
              } else {
                await client[method.localName]!(request, options);
              }
            } catch (e) {
              err = e;
            }
            calls++;
            const got = outcome(err);
            if (got !== want) {
              wrong.push(`${name(method)} as ${p}: ${got} (${err instanceof Error ? err.message : "no error"}), expected ${want}`);
            }
          }
        }
      }
      assert.deepEqual(wrong, [], `${wrong.length} of ${calls} calls answered differently`);
    });
  }

  it("checks the app found from the request when the request names none (SendEvent by event id alone)", async () => {
    const hub = transports["gRPC (grpc-js port)"]!(HubService) as unknown as Client<typeof HubService>;
    const as = (p: Principal) => ({ headers: { authorization: credentials.get(p)! } });
    const err = await hub.sendEvent({ eventId: `${APP}-e` }, as("wrong app")).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err?.code, Code.PermissionDenied);
    assert.equal(reasonOf(err), "APP_NOT_ALLOWED");
    assert.match((await hub.sendEvent({ eventId: `${APP}-e` }, as("publish-only"))).msgId, /^\d+$/);
  });

  it("the README's access table is this matrix", () => {
    const readme = readFileSync(join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "README.md"), "utf8");
    const start = "<!-- authorization-matrix:start -->\n";
    const end = "<!-- authorization-matrix:end -->";
    const table = readmeTable();
    const i = readme.indexOf(start);
    const j = readme.indexOf(end);
    assert.ok(i >= 0 && j > i, `README.md needs the table between ${start.trim()} and ${end}:\n${table}`);
    assert.equal(readme.slice(i + start.length, j), table, `README.md's table differs; it should read:\n${table}`);
  });
});

/** The README's table: one row per RPC, one column per kind of caller (network transports). */
function readmeTable(): string {
  const cell: Record<Outcome, string> = { OK: "ok", UNAUTHENTICATED: "unauth", PERMISSION_DENIED: "denied", NOT_FOUND: "hidden" };
  const cols = principals;
  const lines = [`| RPC | ${cols.join(" | ")} |`, `| --- | ${cols.map(() => ":---:").join(" | ")} |`];
  for (const s of services) {
    for (const m of s.methods) lines.push(`| \`${name(m)}\` | ${cols.map((p) => cell[expected(access[name(m)]!, p)]).join(" | ")} |`);
  }
  return `${lines.join("\n")}\n`;
}
