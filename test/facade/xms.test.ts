import { strict as assert } from "node:assert";
import { once } from "node:events";
import { xml2js } from "xml-js";
import { registerApp, startTestHerald, uniquePrefix, watchersGone, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import { http, post, type HttpReply } from "../support/http.js";
import { RedisServer } from "../support/redis-server.js";
import { XmsStream } from "../support/xms-client.js";
import { postKonyEvent } from "../support/kony.js";
import { eventTypes, typesAndResources } from "../support/event-types.js";
import { SCHEMA_EVENT_TYPES, SCHEMA_RESOURCE_TYPES } from "../support/dialogic-clients.js";

const XML_TYPE = "application/xml";
const xmlOf = (r: HttpReply) => xml2js(r.body, { compact: true }) as Record<string, any>;
const asList = (v: unknown) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** `[type, resource_id, resource_type]` of each eventsubscribe of an eventhandler_response. */
const subscriptionsOf = (handler: any) =>
  asList(handler.eventsubscribe).map((s: any) => [s._attributes.type, s._attributes.resource_id, s._attributes.resource_type]);

// The document's request payloads, verbatim (indentation, line breaks and attribute layout as printed).
const DOC_POST = `<web_service version="1.0">
 <eventhandler>
    <eventsubscribe action="add"
      type="any" resource_id="any"
      resource_type="any"/>
 </eventhandler>
</web_service>`;
const DOC_PUT = `<web_service version="1.0">
 <eventhandler>
    <eventsubscribe action="add"
     type="end_play" />
 </eventhandler>
</web_service>`;

const subscribe = (attrs: string) => `<web_service version="1.0"><eventhandler><eventsubscribe ${attrs}/></eventhandler></web_service>`;

/** An XMS client's calls, over real HTTP. */
class XmsClient {
  constructor(readonly base: string) {}
  create(appid: string, body = DOC_POST, prefix = "/eventhandlers") {
    return post(`${this.base}${prefix}?appid=${encodeURIComponent(appid)}`, body, XML_TYPE);
  }
  async createId(appid: string, body = DOC_POST): Promise<string> {
    const r = await this.create(appid, body);
    assert.equal(r.status, 201, r.body);
    return xmlOf(r)["web_service"].eventhandler_response._attributes.identifier as string;
  }
  put(appid: string, id: string, body: string) {
    return http(`${this.base}/eventhandlers/${id}?appid=${encodeURIComponent(appid)}`, "PUT", body, { "content-type": XML_TYPE });
  }
  delete(appid: string, id: string) {
    return http(`${this.base}/eventhandlers/${id}?appid=${encodeURIComponent(appid)}`, "DELETE");
  }
  list(appid: string, prefix = "/eventhandlers") {
    return http(`${this.base}${prefix}?appid=${encodeURIComponent(appid)}`, "GET");
  }
  stream(appid: string, id: string, seed?: number) {
    return XmsStream.open(`${this.base}/default/eventhandlers/${id}?appid=${encodeURIComponent(appid)}`, seed);
  }
}

/** The `web_service`/`error` body every refusal carries, with its status. */
function assertError(r: HttpReply, status: number): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.contentType, XML_TYPE);
  const error = xmlOf(r)["web_service"]?.error?._attributes;
  assert.equal(error?.status, String(status), r.body);
  assert.ok(typeof error?.reason === "string" && error.reason.length > 0);
  assert.doesNotMatch(r.body, /\bat .*\.js:\d+/, "no stack trace");
}

describe("XMS eventhandlers: CRUD as the document shows it", () => {
  let h: TestHerald;
  let xms: XmsClient;
  let n = 0;
  const appid = () => `app-${++n}`;
  before(async () => {
    h = await startTestHerald({ limits: { maxBodyBytes: 4096, maxHandlersPerApp: 3 } });
    xms = new XmsClient(`http://127.0.0.1:${h.httpPort}`);
  });
  after(() => h.stop());

  it("creates a handler from the document's request: 201, the documented response, href its path and Location its URL", async () => {
    const r = await xms.create("app");
    assert.equal(r.status, 201, r.body);
    assert.equal(r.contentType, XML_TYPE);
    const res = xmlOf(r)["web_service"];
    assert.equal(res._attributes.version, "1.0");
    const attrs = res.eventhandler_response._attributes;
    assert.match(attrs.identifier, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(attrs.appid, "app");
    // As XMS 2.3 answers: clients put their own host and port before href (xms-clients.test.ts).
    assert.equal(attrs.href, `/default/eventhandlers/${attrs.identifier}`);
    assert.equal(r.headers?.location, `http://127.0.0.1:${h.httpPort}${attrs.href}`, "Location = href, absolute");
    assert.deepEqual(subscriptionsOf(res.eventhandler_response), [["any", "any", "any"]]);
  });

  it("accepts every event type and resource type of xmsrest.xsd, and the document's cpa", async () => {
    const types = [...SCHEMA_EVENT_TYPES, "cpa"];
    const r = await xms.create(
      appid(),
      `<web_service version="1.0"><eventhandler>${types.map((t) => `<eventsubscribe type="${t}"/>`).join("")}</eventhandler></web_service>`,
    );
    assert.equal(r.status, 201, r.body);
    assert.deepEqual(
      subscriptionsOf(xmlOf(r)["web_service"].eventhandler_response).map((s) => s[0]),
      types,
    );
    const byResource = await xms.create(
      appid(),
      `<web_service version="1.0"><eventhandler>${SCHEMA_RESOURCE_TYPES.map((t) => `<eventsubscribe type="stream" resource_type="${t}"/>`).join("")}</eventhandler></web_service>`,
    );
    assert.equal(byResource.status, 201, byResource.body);
    assert.deepEqual(
      subscriptionsOf(xmlOf(byResource)["web_service"].eventhandler_response).map((s) => s[2]),
      SCHEMA_RESOURCE_TYPES,
    );
  });

  it("applies the schema's defaults: a bare eventsubscribe is any / any / any", async () => {
    const r = await xms.create(appid(), subscribe(""));
    assert.equal(r.status, 201, r.body);
    assert.deepEqual(subscriptionsOf(xmlOf(r)["web_service"].eventhandler_response), [["any", "any", "any"]]);
  });

  it('updates with the document\'s PUT (adds end_play) and removes with action="remove"', async () => {
    const app = appid();
    const id = await xms.createId(app);
    const put = await xms.put(app, id, DOC_PUT);
    assert.equal(put.status, 200, put.body);
    const res = xmlOf(put)["web_service"].eventhandler_response;
    assert.equal(res._attributes.identifier, id);
    assert.equal(res._attributes.appid, app);
    assert.deepEqual(
      subscriptionsOf(res),
      [
        ["any", "any", "any"],
        ["end_play", "any", "any"],
      ],
      "as the document's PUT response",
    );
    const again = await xms.put(app, id, DOC_PUT);
    assert.deepEqual(subscriptionsOf(xmlOf(again)["web_service"].eventhandler_response).length, 2, "an identical add is kept once");
    const removed = await xms.put(app, id, subscribe(`action="remove" type="any" resource_id="any" resource_type="any"`));
    assert.equal(removed.status, 200);
    assert.deepEqual(subscriptionsOf(xmlOf(removed)["web_service"].eventhandler_response), [["end_play", "any", "any"]]);
  });

  it("lists an appid's handlers with their size, under both prefixes; another appid sees none of them", async () => {
    const app = appid();
    const ids = [await xms.createId(app), await xms.createId(app, subscribe(`type="ringing" resource_type="call"`))];
    for (const prefix of ["/eventhandlers", "/default/eventhandlers"]) {
      const r = await xms.list(app, prefix);
      assert.equal(r.status, 200);
      assert.match(r.body, /^<\?xml version="1.0" encoding="UTF-8" standalone="no"\?>/, "the declaration, as the document's sample");
      const list = xmlOf(r)["web_service"].eventhandlers_response;
      assert.equal(list._attributes.size, "2");
      const handlers = asList(list.eventhandler_response);
      assert.deepEqual(
        handlers.map((x: any) => x._attributes.identifier),
        ids,
        "in creation order",
      );
      assert.deepEqual(
        handlers.map((x: any) => x._attributes.appid),
        [app, app],
      );
      assert.deepEqual(subscriptionsOf(handlers[1]), [["ringing", "any", "call"]]);
    }
    const other = xmlOf(await xms.list(appid()))["web_service"].eventhandlers_response;
    assert.equal(other._attributes.size, "0");
    assert.equal(other.eventhandler_response, undefined);
  });

  it("deletes with 204; then every verb on it is 404, and another appid could never touch it", async () => {
    const app = appid();
    const id = await xms.createId(app);
    assertError(await xms.delete("someone-else", id), 404);
    assertError(await xms.put("someone-else", id, DOC_PUT), 404);
    assertError(await streamReply(xms.stream("someone-else", id)), 404);
    const del = await xms.delete(app, id);
    assert.equal(del.status, 204);
    assert.equal(del.body, "");
    assertError(await xms.delete(app, id), 404);
    assertError(await xms.put(app, id, DOC_PUT), 404);
    assert.equal(xmlOf(await xms.list(app))["web_service"].eventhandlers_response._attributes.size, "0");
  });

  it("refuses bad requests in a web_service error body, never a stack trace, and keeps serving", async () => {
    const base = xms.base;
    assertError(await post(`${base}/eventhandlers`, DOC_POST, XML_TYPE), 404); // no appid
    assertError(await post(`${base}/eventhandlers?appid=`, DOC_POST, XML_TYPE), 404);
    assertError(await http(`${base}/eventhandlers/nope?appid=x`, "PUT", DOC_PUT, { "content-type": XML_TYPE }), 404);
    const app = appid();
    for (const [body, why] of [
      ['<web_service version="1.0"><eventhandler>', "malformed XML"],
      ["", "empty body"],
      [subscribe(`type="ring"`), "unknown type"],
      [subscribe(`resource_type="mixer"`), "unknown resource_type"],
      [subscribe(`action="toggle"`), "unknown action"],
      [subscribe(`colour="red"`), "unknown attribute"],
      ["<web_service><eventhandler/></web_service>", "no eventsubscribe"],
      ["<web_service><call/></web_service>", "not an eventhandler"],
      [`<!DOCTYPE x [<!ENTITY a "aaaa">]>${subscribe(`type="&a;"`)}`, "a DTD"],
      ["<web_service>" + "<x>".repeat(100) + "</x>".repeat(100) + "</web_service>", "too deep"],
    ] as const) {
      const r = await xms.create(app, body);
      assert.equal(r.status, 400, `${why}: ${r.body}`);
      assertError(r, 400);
    }
    assertError(await post(`${base}/eventhandlers?appid=${app}`, JSON.stringify({ eventhandler: {} }), "application/json"), 400);
    assertError(await xms.create(app, `<web_service>${" ".repeat(5000)}</web_service>`), 413);
    const patch = await http(`${base}/eventhandlers/x?appid=${app}`, "PATCH", DOC_PUT, { "content-type": XML_TYPE });
    assertError(patch, 405);
    assert.equal(patch.headers?.allow, "GET, PUT, DELETE");
    assertError(await http(`${base}/default/eventhandlers?appid=${app}`, "DELETE"), 405);
    // No Content-Type at all is read as XML, as XMS bodies are.
    assert.equal((await post(`${base}/eventhandlers?appid=${app}`, DOC_POST, undefined)).status, 201);
    // The appid's handler limit (3 here), then room again after a delete.
    await xms.createId(app);
    const third = await xms.createId(app);
    assertError(await xms.create(app), 403);
    await xms.delete(app, third);
    assert.equal((await xms.create(app)).status, 201);
  });
});

describe("XMS event streams", () => {
  let h: TestHerald;
  let xms: XmsClient;
  const open: XmsStream[] = [];
  const stream = async (appid: string, id: string) => {
    const s = await xms.stream(appid, id, open.length + 1);
    open.push(s);
    assert.equal(s.status, 200);
    assert.equal(s.response.headers["content-type"], XML_TYPE);
    return s;
  };
  const send = (appId: string, type: string, more: object = {}) =>
    unary(h.clients.hub, "sendEvent", { appId, eventId: `${appId}-e`, type, resourceType: "call", resourceId: `${type}-id`, ...more });

  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" } });
    xms = new XmsClient(`http://127.0.0.1:${h.httpPort}`);
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  after(() => h.stop());

  it("streams events of the schema's types, framed by length, in order, with their attributes; a Kony event is not one", async () => {
    const id = await xms.createId("demo");
    const s = await stream("demo", id);
    await unary(h.clients.hub, "sendEvent", {
      appId: "demo",
      eventId: "1",
      type: "ringing",
      resourceType: "call",
      resourceId: "call-7",
      namePairs: [
        { name: "call_id", content: "call-7" },
        { name: "lastname", content: "O'Brien & <Sons>" },
      ],
      payload: { structValue: { fields: { caller: { stringValue: "sip:bob@example.com" }, attempt: { numberValue: 2 } } } },
    });
    const kony = await postKonyEvent(xms.base);
    assert.equal(kony.status, 200, kony.body);
    // An XMS-typed event published through the Kony facade's core, after it.
    await unary(h.clients.hub, "sendEvent", { appId: "demo", eventId: "1", type: "hangup", resourceType: "call", resourceId: "call-7" });
    await s.received(2);
    const [viaGrpc, after] = s.realEvents;
    assert.deepEqual(
      { ...viaGrpc, xml: undefined },
      {
        type: "ringing",
        resourceId: "call-7",
        resourceType: "call",
        data: {
          call_id: "call-7",
          lastname: "O'Brien & <Sons>",
          caller: "sip:bob@example.com",
          attempt: "2",
          content: "Hello O'Brien & <Sons>, welcome aboard.",
        },
        xml: undefined,
      },
    );
    assert.match(
      viaGrpc!.xml,
      /^<web_service version="1.0">\n<event type="ringing" resource_id="call-7" resource_type="call">\n<event_data name="call_id" value="call-7"\/>\n/,
    );
    assert.ok(viaGrpc!.xml.endsWith("</event>\n</web_service>\n"), "each document ends with </web_service> and a newline");
    // A Kony event has no type: not an XMS event, an XMS client could not read it.
    assert.deepEqual(eventTypes(s.realEvents), ["ringing", "hangup"]);
    assert.deepEqual(after!.data, { content: "Hello {{lastname}}, welcome aboard." });
  });

  it("a PUT changes what an open stream receives at once", async () => {
    await registerApp(h, "calls-put");
    const id = await xms.createId("calls-put", subscribe(`type="ringing"`));
    const s = await stream("calls-put", id);
    await send("calls-put", "hangup"); // not subscribed
    await send("calls-put", "ringing");
    await s.received(1);
    const added = await xms.put("calls-put", id, subscribe(`type="hangup" resource_type="call"`));
    assert.equal(added.status, 200);
    await send("calls-put", "hangup");
    await s.received(2);
    await xms.put("calls-put", id, subscribe(`action="remove" type="ringing"`));
    await send("calls-put", "ringing"); // no longer subscribed
    await send("calls-put", "hangup", { resourceId: "last" });
    await s.received(3);
    assert.deepEqual(typesAndResources(s.realEvents), [
      ["ringing", "ringing-id"],
      ["hangup", "hangup-id"],
      ["hangup", "last"],
    ]);
  });

  it("a resource_id subscription receives only that resource's events", async () => {
    await registerApp(h, "calls-rid");
    const id = await xms.createId("calls-rid", subscribe(`resource_id="call-2"`));
    const s = await stream("calls-rid", id);
    for (const rid of ["call-1", "call-2", "call-3", "call-2"]) await send("calls-rid", "dtmf", { resourceId: rid });
    await send("calls-rid", "hangup", { resourceId: "call-2" });
    await s.received(3);
    assert.deepEqual(typesAndResources(s.realEvents), [
      ["dtmf", "call-2"],
      ["dtmf", "call-2"],
      ["hangup", "call-2"],
    ]);
  });

  it("a DELETE ends the stream cleanly, after the events sent before it", async () => {
    await registerApp(h, "calls-del");
    const id = await xms.createId("calls-del");
    const s = await stream("calls-del", id);
    await send("calls-del", "connected");
    await send("calls-del", "hangup");
    assert.equal((await xms.delete("calls-del", id)).status, 204);
    await s.ended; // the response ends, with no document cut short
    assert.deepEqual(eventTypes(s.realEvents), ["connected", "hangup"]);
  });

  it("a handler streams what was published after it was created, and a reconnecting client misses nothing and sees nothing twice", async () => {
    await registerApp(h, "calls-re");
    const id = await xms.createId("calls-re");
    await send("calls-re", "incoming"); // before any GET: still this handler's
    const first = await stream("calls-re", id);
    await send("calls-re", "ringing");
    await first.received(2);
    // Once the server has seen the client go (an event written into a connection as it breaks
    // is lost to the client: the protocol has no acknowledgement).
    const gone = watchersGone(h);
    first.close();
    await gone;
    await send("calls-re", "connected"); // while no client is connected
    await send("calls-re", "hangup");
    const second = await stream("calls-re", id);
    await second.received(2);
    await send("calls-re", "info");
    await second.received(3);
    assert.deepEqual(eventTypes(first.realEvents), ["incoming", "ringing"]);
    assert.deepEqual(eventTypes(second.realEvents), ["connected", "hangup", "info"]);
  });

  it("sends keepalive events at the configured interval", async () => {
    const quick = await startTestHerald({ xms: { keepaliveMs: 40 } });
    try {
      const client = new XmsClient(`http://127.0.0.1:${quick.httpPort}`);
      const s = await client.stream("ka", await client.createId("ka"));
      open.push(s);
      await s.until((x) => x.events.length >= 2, "two keepalives");
      assert.deepEqual(
        s.events.slice(0, 2).map((e) => e.xml),
        Array(2).fill(`<web_service version="1.0">\n<event type="keepalive"/>\n</web_service>\n`),
      );
      s.close();
    } finally {
      await quick.stop();
    }
  });

  it("lets go of a client that stops reading once the core ends its stream as too slow; the others never wait", async () => {
    const small = await startTestHerald({ watch: { queueLimit: 4 } });
    try {
      await registerApp(small, "slow");
      const client = new XmsClient(`http://127.0.0.1:${small.httpPort}`);
      const paused = await client.stream("slow", await client.createId("slow"));
      const reader = await client.stream("slow", await client.createId("slow"));
      open.push(paused, reader);
      paused.response.pause();
      const ended = once(small.fanOut, "ended");
      const big = "x".repeat(60_000);
      for (let i = 0; i < 80; i++) {
        await unary(small.clients.hub, "sendEvent", {
          appId: "slow",
          eventId: "slow-e",
          type: "dtmf",
          resourceId: String(i),
          namePairs: [{ name: "big", content: big }],
        });
      }
      assert.deepEqual(await ended, ["slow", "slow"], "the paused stream was ended as too slow");
      await reader.received(80, 20_000);
      assert.deepEqual(
        reader.realEvents.map((e) => e.resourceId),
        Array.from({ length: 80 }, (_, i) => String(i)),
      );
      // The server has let go of the paused connection: resumed, the client finds it cut.
      paused.response.resume();
      assert.equal(
        await paused.ended.then(
          () => "ended",
          () => "cut",
        ),
        "cut",
      );
      assert.ok(paused.realEvents.length < 80);
    } finally {
      await small.stop();
    }
  });

  it("lets go of a client that stops reading once more than --watch-queue-bytes of its events wait", async () => {
    const small = await startTestHerald({ watch: { queueBytes: 512 * 1024 } });
    try {
      await registerApp(small, "slowb");
      const client = new XmsClient(`http://127.0.0.1:${small.httpPort}`);
      const paused = await client.stream("slowb", await client.createId("slowb"));
      open.push(paused);
      paused.response.pause();
      let sent = 0;
      let ended = "";
      small.fanOut.once("ended", (_app, kind) => (ended = kind));
      const big = "x".repeat(60_000);
      // The count bound (1,000) is far: only bytes can end it, once the sockets' buffers are full.
      while (ended === "" && sent < 400) {
        await unary(small.clients.hub, "sendEvent", {
          appId: "slowb",
          eventId: "slowb-e",
          type: "dtmf",
          resourceId: String(sent++),
          namePairs: [{ name: "big", content: big }],
        });
      }
      assert.equal(ended, "slow", `ended after ${sent} events`);
      paused.response.resume();
      assert.equal(
        await paused.ended.then(
          () => "ended",
          () => "cut",
        ),
        "cut",
      );
    } finally {
      await small.stop();
    }
  });

  it("answers an unknown handler with 404 before any stream starts", async () => {
    assertError(await streamReply(xms.stream("demo", "00000000-0000-0000-0000-000000000000")), 404);
    assertError(await streamReply(XmsStream.open(`${xms.base}/eventhandlers/whatever`)), 404); // no appid
    const id = await xms.createId("demo");
    const head = await http(`${xms.base}/eventhandlers/${id}?appid=demo`, "HEAD");
    assert.deepEqual([head.status, head.contentType, head.body], [200, XML_TYPE, ""], "a HEAD answers at once, holding nothing open");
  });

  it("holds 1,000 open streams on one process, and every one receives a published event", async function () {
    this.timeout(60_000);
    const count = 1000;
    const bulk = await startTestHerald({ limits: { maxHandlersPerApp: count } });
    const streams: XmsStream[] = [];
    try {
      await registerApp(bulk, "many");
      const client = new XmsClient(`http://127.0.0.1:${bulk.httpPort}`);
      const handlers: string[] = [];
      for (let i = 0; i < count; i += 100)
        handlers.push(...(await Promise.all(Array.from({ length: 100 }, () => client.createId("many")))));
      for (let i = 0; i < count; i += 100) {
        streams.push(...(await Promise.all(handlers.slice(i, i + 100).map((id, j) => client.stream("many", id, i + j + 1)))));
      }
      assert.ok(streams.every((s) => s.status === 200));
      await unary(bulk.clients.hub, "sendEvent", {
        appId: "many",
        eventId: "many-e",
        type: "incoming",
        resourceType: "call",
        resourceId: "c",
      });
      await Promise.all(streams.map((s) => s.received(1, 30_000)));
      assert.ok(streams.every((s) => s.realEvents.length === 1 && s.realEvents[0]!.resourceId === "c"));
    } finally {
      for (const s of streams) s.close();
      await bulk.stop();
    }
  });
});

describe("XMS across instances on one Redis", () => {
  let redis: RedisServer;
  let a: TestHerald;
  let b: TestHerald;
  let keyPrefix: string;
  const open: XmsStream[] = [];
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());
  beforeEach(async () => {
    keyPrefix = uniquePrefix();
    a = await startTestHerald({ redis: { url: redis.url, keyPrefix } });
    b = await startTestHerald({ redis: { url: redis.url, keyPrefix } });
    await registerApp(a, "calls");
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    await Promise.all([a.stop(), b.stop()]);
  });
  const client = (x: TestHerald) => new XmsClient(`http://127.0.0.1:${x.httpPort}`);
  const send = (x: TestHerald, type: string, resourceId = `${type}-id`) =>
    unary(x.clients.hub, "sendEvent", { appId: "calls", eventId: "calls-e", type, resourceType: "call", resourceId });

  it("a handler made on one instance streams on another; PUT and DELETE on the first reach the stream on the second", async () => {
    const id = await client(a).createId("calls", subscribe(`type="ringing"`));
    const listed = xmlOf(await client(b).list("calls"))["web_service"].eventhandlers_response;
    assert.equal(listed.eventhandler_response._attributes.identifier, id, "stored in Redis, visible everywhere");
    const s = await client(b).stream("calls", id, 3);
    open.push(s);
    await send(a, "hangup");
    await send(a, "ringing");
    await s.received(1);
    assert.equal((await client(a).put("calls", id, subscribe(`type="hangup"`))).status, 200);
    await send(b, "hangup", "h2");
    await s.received(2);
    assert.equal((await client(a).delete("calls", id)).status, 204);
    await s.ended;
    assert.deepEqual(typesAndResources(s.realEvents), [
      ["ringing", "ringing-id"],
      ["hangup", "h2"],
    ]);
  });

  it("a client whose instance stops reconnects to another and misses nothing, sees nothing twice", async () => {
    const id = await client(a).createId("calls");
    const first = await client(a).stream("calls", id, 5);
    open.push(first);
    await send(a, "incoming");
    await first.received(1);
    const ended = first.ended.catch(() => undefined);
    await a.stop(); // a rolling restart: the stream ends, its position is saved
    await ended;
    await send(b, "ringing");
    await send(b, "connected");
    const second = await client(b).stream("calls", id, 6);
    open.push(second);
    await second.received(2);
    assert.deepEqual(eventTypes(first.realEvents), ["incoming"]);
    assert.deepEqual(eventTypes(second.realEvents), ["ringing", "connected"]);
    a = await startTestHerald({ redis: { url: redis.url, keyPrefix } }); // for afterEach
  });
});

/** A GET that was refused, as an HttpReply. */
async function streamReply(opening: Promise<XmsStream>): Promise<HttpReply> {
  const s = await opening;
  await s.ended;
  return { status: s.status, contentType: s.response.headers["content-type"], body: s.body };
}
