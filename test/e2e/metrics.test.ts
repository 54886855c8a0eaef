import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { registerApp, startTestHerald, uniquePrefix, watchersGone, watchersLive, type TestHerald } from "../support/herald.js";
import { rawClients, rejection, unary, type RawClients } from "../support/grpc-client.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";
import { ok, Target } from "../support/target.js";
import { RedisServer } from "../support/redis-server.js";
import { postKonyEvent } from "../support/kony.js";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { parse as parseYaml } from "yaml";

/** One scrape: every sample by its name and labels as written (`name{a="x",b="y"}`). */
type Samples = Map<string, number>;

async function scrape(port: number, key: string | undefined = ADMIN_TOKEN): Promise<Samples> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples: Samples = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** A sample's value, 0 when the series does not exist yet. */
const value = (s: Samples, name: string, labels: Record<string, string> = {}) => {
  const inner = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return s.get(inner === "" ? name : `${name}{${inner}}`) ?? 0;
};

/** How much each series moved between two scrapes. */
const moved = (before: Samples, after: Samples, name: string, labels: Record<string, string> = {}) =>
  value(after, name, labels) - value(before, name, labels);

const hub = "herald.v1.HubService";

describe("metrics (/metrics after real traffic, access control on)", () => {
  let h: TestHerald;
  let publisher: RawClients;
  let watcher: RawClients;
  let publishKey: string;
  let eventId: string;
  const targets: Target[] = [];

  before(async () => {
    h = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      metrics: { port: 0 },
      eventhos: { allowHosts: "127.0.0.1", retryLimit: 0 },
      server: { seedFile: "examples/seed.yaml" },
    });
    eventId = await registerApp(h, "metered");
    publishKey = (
      await unary<{ secret: string }>(h.clients.registry, "createApiKey", { name: "p", roles: ["ROLE_PUBLISH"], appIds: ["*"] })
    ).secret;
    const watchKey = (
      await unary<{ secret: string }>(h.clients.registry, "createApiKey", { name: "w", roles: ["ROLE_WATCH"], appIds: ["*"] })
    ).secret;
    publisher = rawClients(h.grpcPort, publishKey);
    watcher = rawClients(h.grpcPort, watchKey);
  });
  after(async () => {
    publisher.close();
    watcher.close();
    await h.stop();
    await Promise.all(targets.map((t) => t.close()));
  });

  it("asks for an admin credential: none 401, a publish key 403, the admin key 200", async () => {
    const none = await fetch(`http://127.0.0.1:${h.httpPort}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    const publish = await fetch(`http://127.0.0.1:${h.httpPort}/metrics`, { headers: { authorization: `Bearer ${publishKey}` } });
    assert.equal(publish.status, 403);
    const samples = await scrape(h.httpPort);
    assert.ok(value(samples, "nodejs_eventloop_lag_seconds") >= 0 && samples.has("process_resident_memory_bytes"), "process metrics");
  });

  it("serves /metrics alone on --metrics-port, with the same check", async () => {
    assert.ok(h.metricsPort, "a port of its own");
    await scrape(h.metricsPort);
    assert.equal((await fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${h.metricsPort}/healthz`)).status, 404);
  });

  it("counts RPCs by service, method and code, and times the unary ones", async () => {
    const before = await scrape(h.httpPort);
    for (let i = 0; i < 3; i++) await unary(publisher.hub, "sendEvent", { eventId });
    const refused = await rejection(unary(publisher.hub, "sendEvent", { eventId: "no such event" }));
    assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
    const denied = await rejection(unary(publisher.registry, "listApps", {}));
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    const after = await scrape(h.httpPort);
    const send = { service: hub, method: "SendEvent" };
    assert.equal(moved(before, after, "herald_rpc_requests_total", { ...send, code: "ok" }), 3);
    assert.equal(moved(before, after, "herald_rpc_requests_total", { ...send, code: "invalid_argument" }), 1);
    assert.equal(
      moved(before, after, "herald_rpc_requests_total", {
        service: "herald.v1.RegistryService",
        method: "ListApps",
        code: "permission_denied",
      }),
      1,
    );
    assert.equal(moved(before, after, "herald_rpc_duration_seconds_count", send), 4);
    assert.equal(value(after, "herald_rpc_in_flight", send), 0);
  });

  it("counts watchers by kind while open, the events they get, and why they end", async () => {
    const before = await scrape(h.httpPort);
    const live = watchersLive(h);
    const stream = watcher.hub.WatchEvents({ appId: "metered" });
    const got: unknown[] = [];
    const twoEvents = new Promise<void>((resolve) => stream.on("data", (e: unknown) => got.push(e) === 2 && resolve()));
    stream.on("error", () => undefined);
    await live;
    const open = await scrape(h.httpPort);
    assert.equal(moved(before, open, "herald_watchers", { kind: "grpc" }), 1);
    await unary(publisher.hub, "sendEvent", { eventId });
    await unary(publisher.hub, "sendEvent", { eventId });
    await twoEvents;
    const gone = watchersGone(h);
    stream.cancel();
    await gone;
    // Resumed from offset 0: its history replayed first (the two events), then live.
    const resumed = watcher.hub.WatchEvents({ appId: "metered", resumeAfter: "0" });
    resumed.on("error", () => undefined);
    await new Promise<void>((resolve) => {
      let n = 0;
      resumed.on("data", () => ++n === 2 && resolve());
    });
    const resumedGone = watchersGone(h);
    resumed.cancel();
    await resumedGone;
    // Past a resume point beyond the latest offset: refused, and counted by its reason.
    const expired = watcher.hub.WatchEvents({ appId: "metered", resumeAfter: "999999" });
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      expired.on("error", () => undefined);
      expired.on("status", resolve);
    });
    assert.equal(status.code, grpc.status.OUT_OF_RANGE);
    const after = await scrape(h.httpPort);
    assert.equal(value(after, "herald_watchers", { kind: "grpc" }), value(before, "herald_watchers", { kind: "grpc" }));
    assert.ok(moved(before, after, "herald_events_delivered_total", { kind: "grpc" }) >= 2);
    assert.equal(moved(before, after, "herald_streams_ended_total", { kind: "grpc", reason: "cancel" }), 2);
    assert.equal(moved(before, after, "herald_history_replays_total"), 1, "the resumed stream, not the refused one");
    assert.equal(value(after, "herald_watch_queued_events"), 0, "nothing waits once the streams are gone");
    assert.equal(moved(before, after, "herald_streams_ended_total", { kind: "grpc", reason: "HISTORY_EXPIRED" }), 1);
    assert.equal(moved(before, after, "herald_rpc_requests_total", { service: hub, method: "WatchEvents", code: "out_of_range" }), 1);
  });

  it("counts legacy requests by contract, declared route and status", async () => {
    const before = await scrape(h.httpPort);
    const reply = await postKonyEvent(`http://127.0.0.1:${h.httpPort}`);
    const status = await fetch(`http://127.0.0.1:${h.httpPort}/kpns/api/v1/status/push/request/no-such-id`);
    await status.text();
    const after = await scrape(h.httpPort);
    assert.equal(
      moved(before, after, "herald_facade_requests_total", {
        contract: "kony",
        route: "/kpns/service/eventpushmessage",
        status: String(reply.status),
      }),
      1,
    );
    assert.equal(
      moved(before, after, "herald_facade_requests_total", {
        contract: "kony",
        route: "/kpns/api/v1/status/push/request/:id",
        status: String(status.status),
      }),
      1,
      "the declared route, not the path with its id",
    );
    assert.ok(![...after.keys()].some((k) => k.includes("no-such-id")), "no request id in any label");
  });

  it("counts eventhos work: jobs, executions and attempts by outcome, and the queue drained", async () => {
    const api = new EventhosApi(h.httpPort);
    const p = await api.producer("metered-shop");
    const t = await Target.start(ok);
    targets.push(t);
    await api.contract("notify", p.eventId, p.consumer, t.url("/hook"), 1);
    const before = await scrape(h.httpPort);
    const token = await api.token(p.clientId, p.secret);
    await api.send(p.eventId, token, { n: 1 });
    await api.settled((await api.latest(p.eventId)).id);
    const after = await scrape(h.httpPort);
    assert.equal(moved(before, after, "herald_eventhos_jobs_total"), 1);
    assert.equal(moved(before, after, "herald_eventhos_executions_total", { state: "processed" }), 1);
    assert.equal(moved(before, after, "herald_eventhos_attempts_total", { outcome: "success" }), 1);
    assert.equal(value(after, "herald_eventhos_queue_jobs"), 0);
  });
});

describe("metrics on Redis", () => {
  let redis: RedisServer;
  let h: TestHerald;
  before(async () => {
    redis = await RedisServer.start();
    h = await startTestHerald({
      redis: { url: redis.url, keyPrefix: uniquePrefix() },
      metrics: { redisCommands: true, appLabels: 1 },
    });
  });
  after(async () => {
    await h.stop();
    await redis.destroy();
  });

  it("counts connections, registry cache reads, Redis commands and per-app publishes under the cap", async () => {
    const first = await registerApp(h, "app-one");
    const second = await registerApp(h, "app-two");
    const before = await scrape(h.httpPort, undefined);
    for (let i = 0; i < 3; i++) await unary(h.clients.hub, "sendEvent", { eventId: first });
    await unary(h.clients.hub, "sendEvent", { eventId: second });
    const after = await scrape(h.httpPort, undefined);
    assert.ok(value(after, "herald_redis_connections_total", { kind: "first" }) >= 2, "the bus and store connections");
    assert.ok(
      moved(before, after, "herald_registry_cache_reads_total", { result: "hit" }) >= 3,
      "repeated sends read the registry from the cache",
    );
    assert.ok(
      moved(before, after, "herald_redis_command_duration_seconds_count", { command: "evalsha" }) >= 4,
      "one publish script a send",
    );
    assert.equal(moved(before, after, "herald_app_events_published_total", { app: "app-one" }), 3);
    assert.equal(moved(before, after, "herald_app_events_published_total", { app: "other" }), 1, "past --metrics-app-labels 1");
  });

  it("exposes every metric the example dashboard and alert rules use", async () => {
    const res = await fetch(`http://127.0.0.1:${h.httpPort}/metrics`);
    const families = new Set([...(await res.text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const rules = parseYaml(readFileSync("examples/prometheus-alerts.yml", "utf8")) as {
      groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string }> }>;
    };
    const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
    assert.ok(rules.groups.flatMap((g) => g.rules).every((r) => r.alert && r.expr && (r.for === undefined || /^\d+[smh]$/.test(r.for))));
    const dashboard = JSON.parse(readFileSync("examples/grafana-dashboard.json", "utf8")) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    exprs.push(...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:herald|nodejs|process)_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    const family = (name: string) => name.replace(/_(bucket|sum|count)$/, "");
    const missing = [...used].filter((name) => !families.has(name) && !families.has(family(name)));
    assert.ok(used.size >= 12, [...used].join(", "));
    assert.deepEqual(missing, []);
  });

  it("has alert rules promtool accepts (Debian's prometheus package)", function () {
    if (spawnSync("promtool", ["--version"]).status !== 0) this.skip();
    const check = spawnSync("promtool", ["check", "rules", "examples/prometheus-alerts.yml"], { encoding: "utf8" });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  });
});

describe("metrics off (--no-metrics)", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald({ metrics: { disabled: true }, server: { seedFile: "examples/seed.yaml" } });
  });
  after(() => h.stop());

  it("serves no /metrics and counts nothing, while every call still works", async () => {
    const res = await fetch(`http://127.0.0.1:${h.httpPort}/metrics`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    const sent = await unary<{ msgId: string }>(h.clients.hub, "sendEvent", { eventId: "1", subscribers: [{ ksid: "xxxx" }] });
    assert.match(sent.msgId, /^\d+$/);
    const kony = await postKonyEvent(`http://127.0.0.1:${h.httpPort}`);
    assert.equal(kony.status, 200);
  });
});
