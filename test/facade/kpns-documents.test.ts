import { strict as assert } from "node:assert";
import { Redis } from "ioredis";
import { xml2js } from "xml-js";
import { startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { RedisServer } from "../support/redis-server.js";
import { unary, Watch } from "../support/grpc-client.js";
import { difference, eventPushDocument, jsonShape, xmlShape } from "../support/contract-docs.js";
import { JSON_TYPE, post, XML, type HttpReply } from "../support/http.js";

/**
 * Replays the documents' sample requests (their exact text) through the facade and compares every
 * reply structurally with the documented response of the same number, for both wordings and
 * both formats. Herald runs on Redis with the quick-start seed (app demo, event 1, ksid xxxx).
 */
describe("Kony / Volt MX eventpushmessage: the documents' samples", () => {
  let redis: RedisServer;
  let h: TestHerald;
  let raw: Redis;
  let prefix: string;

  before(async () => {
    redis = await RedisServer.start(); // durable: the registry survives the restart below
    prefix = uniquePrefix();
    h = await startTestHerald({ redis: { url: redis.url, keyPrefix: prefix }, server: { seedFile: "examples/seed.yaml" } });
    raw = new Redis(redis.url);
    // 405: a published event of an unpublished app.
    await unary(h.clients.registry, "upsertEvent", { event: { id: "draft-1", appId: "drafts", published: true } });
    // 404: an event whose app record is gone (as a partly applied deletion would leave it).
    await unary(h.clients.registry, "upsertApp", { app: { id: "gone", published: true } });
    await unary(h.clients.registry, "upsertEvent", { event: { id: "orphan-1", appId: "gone", published: true } });
    await raw.del(`${prefix}{gone}:app`);
  });
  after(async () => {
    raw.disconnect();
    await h.stop();
    await redis.destroy();
  });

  const url = (wording: string) => `http://127.0.0.1:${h.httpPort}/${wording}/service/eventpushmessage`;

  /** The sample request with its event id and subscribers changed, keeping its layout. */
  function variant(sample: string, format: "xml" | "json", change: { eventId?: string; ksids?: string[] }): string {
    let s = sample;
    if (change.eventId !== undefined) {
      s =
        format === "xml"
          ? s.replace("<eventid>1</eventid>", `<eventid>${change.eventId}</eventid>`)
          : s.replace('"eventid": "1"', `"eventid": "${change.eventId}"`);
    }
    if (change.ksids) {
      s =
        format === "xml"
          ? s.replace('<subscriber ksid="xxxx"/>', change.ksids.map((k) => `<subscriber ksid="${k}"/>`).join(""))
          : s.replace('"ksid": "xxxx"', change.ksids.map((k) => `"ksid": "${k}"`).join("}, {"));
    }
    assert.notEqual(s, sample, "the variant changed nothing");
    return s;
  }

  for (const wording of ["kpns", "vpns"] as const) {
    const doc = eventPushDocument(wording);

    it(`${wording}: the document holds 8 XML and 8 JSON responses`, () => {
      assert.equal(doc.xmlResponses.length, 8);
      assert.equal(doc.jsonResponses.length, 8);
    });

    for (const format of ["xml", "json"] as const) {
      const sample = format === "xml" ? doc.xmlRequest : doc.jsonRequest;
      const type = format === "xml" ? XML : JSON_TYPE;
      const documented = (n: number) => (format === "xml" ? xmlShape(doc.xmlResponses[n - 1]!) : jsonShape(doc.jsonResponses[n - 1]!));
      const parsed = (r: HttpReply) => (format === "xml" ? xml2js(r.body, { compact: true }) : JSON.parse(r.body));

      async function expectResponse(body: string, n: number, status: number): Promise<HttpReply> {
        const reply = await post(url(wording), body, type);
        assert.equal(reply.status, status, reply.body);
        assert.equal(reply.contentType, type);
        const diff = difference(parsed(reply), documented(n));
        assert.equal(diff, undefined, `${diff}\n${reply.body}`);
        return reply;
      }

      it(`${wording} ${format}: 1. the sample as written is queued, and a watcher of ksid xxxx receives it`, async () => {
        const watch = new Watch(h.clients.hub, { appId: "demo", ksid: "xxxx" });
        await watchersLive(h);
        const reply = await expectResponse(sample, 1, 200);
        await watch.received(1);
        const msgId =
          format === "xml" ? /msgId="(\d+)"/.exec(reply.body)?.[1] : String(JSON.parse(reply.body).messageResponse.messages[0].msgId);
        assert.equal(watch.events[0]!.msgId, msgId);
        assert.equal(watch.events[0]!.eventId, "1");
        assert.equal(watch.events[0]!.content?.mimeType, "text/plain");
        assert.equal(watch.events[0]!.content?.priority, false);
        assert.deepEqual(watch.events[0]!.targets, ["xxxx"]);
        watch.cancel();
      });

      it(`${wording} ${format}: 2. invalid subscribers are listed, msgId -1 when none is valid`, async () => {
        const reply = await expectResponse(variant(sample, format, { ksids: ["nobody-1", "nobody-2"] }), 2, 200);
        if (format === "xml") assert.match(reply.body, /<message {2}msgId="-1" ><\/message>/);
        else assert.equal(JSON.parse(reply.body).messageResponse.messages[0].msgId, -1);
      });

      it(`${wording} ${format}: 3. a malformed body is an invalid request format`, async () => {
        await expectResponse(format === "xml" ? sample.replace("</eventid>", "") : sample.slice(0, -3), 3, 400);
      });

      it(`${wording} ${format}: 4. an event whose application is gone`, async () => {
        await expectResponse(variant(sample, format, { eventId: "orphan-1" }), 4, 404);
      });

      it(`${wording} ${format}: 5. an event of an unpublished application`, async () => {
        await expectResponse(variant(sample, format, { eventId: "draft-1" }), 5, 405);
      });

      it(`${wording} ${format}: 6. an unknown event`, async () => {
        await expectResponse(variant(sample, format, { eventId: "999" }), 6, 406);
      });

      it(`${wording} ${format}: 7. an unpublished event`, async () => {
        await expectResponse(variant(sample, format, { eventId: "2" }), 7, 407);
      });
    }
  }

  describe("8. server error", () => {
    it("answers 500 in each wording and format while Redis is down, then recovers", async () => {
      await redis.stop();
      for (const wording of ["kpns", "vpns"] as const) {
        const doc = eventPushDocument(wording);
        const xml = await post(url(wording), doc.xmlRequest, XML);
        assert.equal(xml.status, 500);
        assert.equal(difference(xml2js(xml.body, { compact: true }), xmlShape(doc.xmlResponses[7]!)), undefined, xml.body);
        const json = await post(url(wording), doc.jsonRequest, JSON_TYPE);
        assert.equal(json.status, 500);
        assert.equal(difference(JSON.parse(json.body), jsonShape(doc.jsonResponses[7]!)), undefined, json.body);
      }
      await redis.restart();
      // The process kept serving: once Redis is back the sample is queued again.
      let reply: HttpReply;
      const deadline = Date.now() + 10_000;
      for (;;) {
        reply = await post(url("kpns"), eventPushDocument("kpns").xmlRequest, XML);
        if (reply.status !== 500 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 25)); // polling interval while Redis reconnects
      }
      assert.equal(reply.status, 200);
    });
  });
});
