import { strict as assert } from "node:assert";
import { registerApp, startTestHerald, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import { http, post } from "../support/http.js";
import {
  cppLongPollEvents,
  cppLongPollUrl,
  HttpChunks,
  JavaListener,
  NodeEventMon,
  perlChunkHandler,
  perlHelloWorldUrl,
  schemaProblems,
} from "../support/dialogic-clients.js";
import { XmsStream } from "../support/xms-client.js";
import { postKonyEvent } from "../support/kony.js";
import { eventTypes } from "../support/event-types.js";

const XML_TYPE = "application/xml";
const subscribe = (attrs: string) => `<web_service version="1.0"><eventhandler><eventsubscribe ${attrs}/></eventhandler></web_service>`;

/** Text that a byte count and a character count read differently, and that XML must carry as it is. */
const NON_ASCII = {
  lastname: "Zoë Ørsted-Łukasiewicz",
  city: "東京 🎉 Ελλάδα",
  note: 'O\'Brien & <Sons> "quoted"',
  lines: "one\ttwo\nthree\r\nfour",
};
const namePairs = (o: Record<string, string>) => Object.entries(o).map(([name, content]) => ({ name, content }));

/** The way Dialogic's own public clients create a handler and read its stream (test/support/dialogic-clients.ts). */
describe("XMS eventhandlers as Dialogic's own clients use them", () => {
  let h: TestHerald;
  let host: string;
  let port: number;
  let n = 0;
  const closers: Array<{ close(): void }> = [];
  const track = <T extends { close(): void }>(c: T): T => {
    closers.push(c);
    return c;
  };
  /** A registered app of this test alone: its handlers see only this test's events. */
  const app = async () => {
    const id = `dlg-${++n}`;
    await registerApp(h, id);
    return id;
  };
  const send = (appId: string, type: string, more: object = {}) =>
    unary(h.clients.hub, "sendEvent", { appId, eventId: `${appId}-e`, type, resourceType: "call", resourceId: `${type}-1`, ...more });
  const create = async (appId: string, body = subscribe(`type="any"`), prefix = "/default/eventhandlers") => {
    const r = await post(`http://${host}:${port}${prefix}?appid=${appId}`, body, XML_TYPE);
    assert.equal(r.status, 201, r.body);
    return { reply: r, id: /identifier="([^"]+)"/.exec(r.body)![1]!, href: /href="([^"]*)"/.exec(r.body)![1]! };
  };

  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" }, xms: { keepaliveMs: 60 } });
    host = "127.0.0.1";
    port = h.httpPort;
  });
  afterEach(() => {
    for (const c of closers.splice(0)) c.close();
  });
  after(() => h.stop());

  it("answers href as the handler's path and Location as its absolute URL, as XMS 2.3 does; PUT and the list give the same path", async () => {
    const appId = await app();
    for (const prefix of ["/eventhandlers", "/default/eventhandlers"]) {
      const { reply, id, href } = await create(appId, undefined, prefix);
      assert.equal(href, `/default/eventhandlers/${id}`);
      assert.equal(reply.headers?.location, `http://${host}:${port}/default/eventhandlers/${id}`);
      const put = await http(`http://${host}:${port}${prefix}/${id}?appid=${appId}`, "PUT", subscribe(`type="dtmf"`), {
        "content-type": XML_TYPE,
      });
      assert.match(put.body, new RegExp(`href="/default/eventhandlers/${id}"`));
      // A script that lists handlers finds each by its path.
      const list = await http(`http://${host}:${port}${prefix}?appid=${appId}`, "GET");
      assert.match(
        list.body,
        new RegExp(`<eventhandler_response identifier="${id}" appid="${appId}" href="/default/eventhandlers/${id}">`),
      );
    }
  });

  it("node-xmseventmon.js: the URL it builds from host, port and href streams, and it reads each event (ASCII) whole", async () => {
    const appId = await app();
    const mon = track(await NodeEventMon.start(host, port, appId));
    const id = /identifier="([^"]+)"/.exec(mon.created.body)![1];
    assert.equal(mon.url, `http://${host}:${port}/default/eventhandlers/${id}?appid=${appId}`);
    await send(appId, "ringing", { namePairs: namePairs(NON_ASCII) });
    await mon.received(1); // one at a time: the sample takes a data event for one event
    await send(appId, "hangup");
    const events = await mon.received(2);
    assert.deepEqual(eventTypes(events), ["ringing", "hangup"]);
    assert.deepEqual(events[0]!.data, NON_ASCII, "decoded as ASCII, the text comes back as sent");
    assert.deepEqual(mon.unreadable, []);
  });

  it("XMSRestTest's Java listener (href, length read as characters): non-ASCII text and the events after it arrive intact", async () => {
    const appId = await app();
    const java = track(await JavaListener.start(host, port, appId, "href"));
    const { id } = await create(appId);
    const raw = track(await HttpChunks.open(`http://${host}:${port}/default/eventhandlers/${id}?appid=${appId}`));
    await send(appId, "ringing", { namePairs: namePairs(NON_ASCII), content: { data: "Grüße, 世界" } });
    await send(appId, "dtmf", { namePairs: [{ name: "digits", content: "1#" }] });
    const events = await java.received(2);
    assert.deepEqual(eventTypes(events), ["ringing", "dtmf"]);
    assert.deepEqual(events[0]!.data, { ...NON_ASCII, content: "Grüße, 世界" });
    assert.deepEqual(events[1]!.data, { digits: "1#" });
    // On the wire: each frame's declared length is its byte length and its character length.
    await raw.until(() => raw.chunks.filter((c) => !c.includes("keepalive")).length >= 2, "two events");
    for (const chunk of raw.chunks) {
      const head = /^([0-9a-f]+)\r\n/.exec(chunk.toString("latin1"));
      assert.ok(head, JSON.stringify(chunk.toString("latin1").slice(0, 20)));
      const body = chunk.subarray(head[0].length);
      const declared = parseInt(head[1]!, 16);
      assert.equal(declared, body.length, "bytes");
      assert.equal(declared, body.toString("utf8").length, "characters");
      assert.ok(
        body.every((b) => b < 0x80),
        "ASCII only",
      );
    }
  });

  it("XMSClientLibrary (XMLBeans over xmsrest.xsd): no event outside the schema's types reaches it, so it keeps reading", async () => {
    await registerApp(h, "demo"); // the seed's app, with an event of Herald's own ids as well
    const java = track(await JavaListener.start(host, port, "demo", "identifier"));
    // A Kony event (its only name is its event id, "1"), a push, and events of Herald's own types.
    const kony = await postKonyEvent(`http://${host}:${port}`);
    assert.equal(kony.status, 200, kony.body);
    await unary(h.clients.hub, "sendPush", { appId: "demo", allActive: true, content: { data: "hi" } });
    await send("demo", "order.created");
    await send("demo", "any");
    await send("demo", "end_record");
    const events = await java.received(1);
    assert.deepEqual(eventTypes(events), ["end_record"]);
    for (const xml of java.documents) assert.deepEqual(schemaProblems(xml), [], xml);
  });

  it("every document of a stream is valid against xmsrest.xsd, whatever was published and however", async () => {
    const appId = await app();
    const { id } = await create(appId);
    const s = track(await XmsStream.open(`http://${host}:${port}/default/eventhandlers/${id}?appid=${appId}`));
    const schemaTyped = ["end_record", "active_talker", "stream", "answered", "end_playcollect", "message"];
    await send(appId, "t"); // not an XMS type
    await send(appId, "", { resourceType: "", resourceId: "" });
    await send(appId, schemaTyped[0]!, {
      resourceType: "mrcp",
      namePairs: [
        { name: "control", content: "bell\u0007 nul\u0000 esc\u001b del\u007f" },
        { name: "é name", content: "x" },
      ],
      payload: { structValue: { fields: { nested: { structValue: { fields: { a: { listValue: { values: [{ numberValue: 1 }] } } } } } } } },
    });
    await send(appId, schemaTyped[1]!, { resourceType: "conference", payload: { listValue: { values: [{ stringValue: "ü" }] } } });
    for (const type of schemaTyped.slice(2)) await send(appId, type, { resourceType: "whatever it is", content: { data: "ok" } });
    await unary(h.clients.hub, "sendPush", { appId, allActive: true, type: "message", content: { data: "pushed" } });
    await s.received(schemaTyped.length + 1);
    await s.until((x) => x.events.some((e) => e.type === "keepalive"), "a keepalive");
    assert.deepEqual(eventTypes(s.realEvents), [...schemaTyped, "message"]);
    for (const xml of s.documents.map((d) => ("event" in d ? d.event.xml : d.xml))) assert.deepEqual(schemaProblems(xml), [], xml);
    assert.equal(s.realEvents[0]!.data["control"], "bell\uFFFD nul\uFFFD esc\uFFFD del\u007f", "characters XML cannot carry");
    assert.equal(s.realEvents[0]!.data["é name"], "x");
  });

  it("xms_rest_helloworld.pl: takes the href as a path, and reads one event per HTTP chunk by its byte length", async () => {
    const appId = await app();
    const { href } = await create(appId);
    const chunks = track(await HttpChunks.open(perlHelloWorldUrl(host, port, href, appId)));
    assert.equal(chunks.status, 200);
    await Promise.all([
      send(appId, "incoming", { namePairs: namePairs(NON_ASCII) }),
      send(appId, "end_play", { namePairs: [{ name: "reason", content: "end of file" }] }),
    ]);
    await send(appId, "hangup", { payload: { structValue: { fields: { big: { stringValue: "x".repeat(40_000) } } } } });
    await chunks.until(() => perlChunkHandler(chunks.chunks).events.filter((e) => e.type !== "keepalive").length >= 3, "three events");
    const { events, dropped } = perlChunkHandler(chunks.chunks);
    assert.deepEqual(dropped, []);
    const real = events.filter((e) => e.type !== "keepalive");
    assert.deepEqual(eventTypes(real).sort(), ["end_play", "hangup", "incoming"]);
    assert.deepEqual(real.find((e) => e.type === "incoming")!.data, NON_ASCII);
  });

  it("restconfdemo (C++): prepends its address to the href, and reads each HTTP chunk from its fifth byte", async () => {
    const appId = await app();
    const { href } = await create(appId);
    const chunks = track(await HttpChunks.open(cppLongPollUrl(host, port, href, appId)));
    assert.equal(chunks.status, 200);
    await send(appId, "incoming");
    await send(appId, "end_play", { namePairs: [{ name: "reason", content: "x".repeat(300) }] }); // a three-digit length
    await chunks.until(() => cppLongPollEvents(chunks.chunks).filter((e) => e.type !== "keepalive").length >= 2, "two events");
    assert.deepEqual(eventTypes(cppLongPollEvents(chunks.chunks).filter((e) => e.type !== "keepalive")), ["incoming", "end_play"]);
  });
});
