import { strict as assert } from "node:assert";
import { xml2js } from "xml-js";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";
import { difference, eventPushDocument, jsonShape, xmlShape } from "../support/contract-docs.js";
import { get, JSON_TYPE, post, XML, type HttpReply } from "../support/http.js";
import { konyChannels } from "../support/kony.js";

const xmlOf = (r: HttpReply) => xml2js(r.body, { compact: true }) as Record<string, any>;

/** The rest of the surface a Kony / Volt MX client uses, and bad input, on the embedded default. */
describe("Kony / Volt MX facade: subscription, push, status, bad input", () => {
  let h: TestHerald;
  const doc = eventPushDocument("kpns");
  const base = () => `http://127.0.0.1:${h.httpPort}`;

  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" }, limits: { maxBodyBytes: 8 * 1024 } });
  });
  after(() => h.stop());

  describe("subscription", () => {
    const subscribe = (prefix: string, deviceId: string, format: "xml" | "json" = "xml", osType = "androidgcm") =>
      format === "xml"
        ? post(
            `${base()}/${prefix}/subscription`,
            `<?xml version='1.0' encoding='UTF-8'?>\n<subscriptionService>\n<subscribe>\n<appId>demo</appId>\n<deviceId>${deviceId}</deviceId>\n` +
              `<ufid>bob@example.com</ufid>\n<sid>sid-${deviceId}</sid>\n<osType>${osType}</osType>\n<!-- enable authToken if you want to enable security -->\n` +
              `<authToken>t</authToken>\n</subscribe>\n</subscriptionService>`,
            XML,
          )
        : post(
            `${base()}/${prefix}/subscription`,
            JSON.stringify({
              subscriptionService: { subscribe: { sid: `sid-${deviceId}`, appId: "demo", ufid: "bob@example.com", osType, deviceId } },
            }),
            JSON_TYPE,
          );

    it("subscribes (XML and JSON) and returns the same ksid for the same device, which the core knows", async () => {
      const first = await subscribe("kpns", "dev-sub-1");
      assert.equal(first.status, 200, first.body);
      assert.equal(first.contentType, XML);
      const ksid = xmlOf(first)["subscriptionResponse"].ksid._text as string;
      assert.equal(xmlOf(first)["subscriptionResponse"].message._text, "Subscription successful. ");
      const again = await subscribe("vpns", "dev-sub-1", "json");
      assert.equal(again.status, 200);
      assert.equal(again.contentType, JSON_TYPE);
      assert.equal(JSON.parse(again.body).subscriptionResponse.ksid, ksid);
      const got = await unary(h.clients.registry, "getSubscriber", { ksid });
      assert.equal(got.subscriber.deviceId, "dev-sub-1");
      assert.equal(got.subscriber.sid, "sid-dev-sub-1");
    });

    it("refuses an unknown os type (400) and an unknown app (404, brand wording)", async () => {
      const bad = await subscribe("kpns", "dev-x", "json", "nokia");
      assert.equal(bad.status, 400);
      assert.deepEqual(JSON.parse(bad.body), { subscriptionResponse: { statusCode: 400, message: "Invalid request format. " } });
      const unknown = await post(
        `${base()}/vpns/subscription`,
        "<subscriptionService><subscribe><appId>nope</appId><deviceId>d</deviceId><sid>s</sid><osType>iphone</osType></subscribe></subscriptionService>",
        XML,
      );
      assert.equal(unknown.status, 404);
      assert.equal(xmlOf(unknown)["subscriptionResponse"].message._text, "Invalid Volt MX Application ID. ");
    });

    it("unsubscribes by ksid and by app + device; then the ksid is an invalid subscriber", async () => {
      const a = JSON.parse((await subscribe("kpns", "dev-un-1", "json")).body).subscriptionResponse.ksid as string;
      const b = JSON.parse((await subscribe("kpns", "dev-un-2", "json")).body).subscriptionResponse.ksid as string;
      const byKsid = await post(
        `${base()}/kpns/subscription`,
        `<subscriptionService><unsubscribe><ksid>${a}</ksid><appId>demo</appId><deviceId>dev-un-1</deviceId></unsubscribe></subscriptionService>`,
        XML,
      );
      assert.equal(byKsid.status, 200, byKsid.body);
      assert.equal(xmlOf(byKsid)["subscriptionResponse"].message._text, "Unsubscription successful. ");
      const byDevice = await post(
        `${base()}/kpns/subscription`,
        JSON.stringify({ subscriptionService: { unsubscribe: { appId: "demo", deviceId: "dev-un-2" } } }),
        JSON_TYPE,
      );
      assert.equal(byDevice.status, 200, byDevice.body);
      const again = await post(
        `${base()}/kpns/subscription`,
        JSON.stringify({ subscriptionService: { unsubscribe: { appId: "demo", ksid: b } } }),
        JSON_TYPE,
      );
      assert.equal(again.status, 400);
      const push = await post(`${base()}/kpns/service/eventpushmessage`, doc.xmlRequest.replace('ksid="xxxx"', `ksid="${a}"`), XML);
      assert.match(push.body, new RegExp(`<subscriber ksid="${a}"></subscriber>`));
      assert.match(push.body, /msgId="-1"/);
    });
  });

  describe("unsubscribe by ksid alone", () => {
    it("needs no appId: the ksid names the subscription (XML and JSON); an unknown ksid is 400", async () => {
      const subscribeJson = (deviceId: string) =>
        post(
          `${base()}/kpns/subscription`,
          JSON.stringify({ subscriptionService: { subscribe: { sid: `sid-${deviceId}`, appId: "demo", osType: "iphone", deviceId } } }),
          JSON_TYPE,
        );
      const a = JSON.parse((await subscribeJson("dev-ksid-1")).body).subscriptionResponse.ksid as string;
      const b = JSON.parse((await subscribeJson("dev-ksid-2")).body).subscriptionResponse.ksid as string;
      const byXml = await post(
        `${base()}/vpns/subscription`,
        `<?xml version='1.0' encoding='UTF-8'?>\n<subscriptionService>\n<unsubscribe>\n<ksid>${a}</ksid>\n</unsubscribe>\n</subscriptionService>`,
        XML,
      );
      assert.equal(byXml.status, 200, byXml.body);
      assert.equal(xmlOf(byXml)["subscriptionResponse"].message._text, "Unsubscription successful. ");
      const byJson = await post(
        `${base()}/kpns/subscription`,
        JSON.stringify({ subscriptionService: { unsubscribe: { ksid: b } } }),
        JSON_TYPE,
      );
      assert.equal(byJson.status, 200, byJson.body);
      assert.deepEqual(JSON.parse(byJson.body), { subscriptionResponse: { statusCode: 200, message: "Unsubscription successful. " } });
      for (const ksid of [a, b]) {
        const code = await unary(h.clients.registry, "getSubscriber", { ksid }).then(
          () => 0,
          (err: { code: number }) => err.code,
        );
        assert.equal(code, 5, `${ksid} is gone (NOT_FOUND)`);
      }
      const again = await post(
        `${base()}/kpns/subscription`,
        JSON.stringify({ subscriptionService: { unsubscribe: { ksid: a } } }),
        JSON_TYPE,
      );
      assert.equal(again.status, 400);
      // With an appId, the ksid must still be that app's.
      const c = JSON.parse((await subscribeJson("dev-ksid-3")).body).subscriptionResponse.ksid as string;
      const otherApp = await post(
        `${base()}/kpns/subscription`,
        JSON.stringify({ subscriptionService: { unsubscribe: { appId: "other", ksid: c } } }),
        JSON_TYPE,
      );
      assert.equal(otherApp.status, 400);
    });
  });

  describe("engagement email and sms blocks", () => {
    /** google.protobuf.Value as grpc-js (proto-loader, oneofs) hands it over → plain JSON. */
    const plainValue = (v: any): unknown => {
      switch (v?.kind) {
        case "structValue":
          return Object.fromEntries(Object.entries(v.structValue.fields ?? {}).map(([k, x]) => [k, plainValue(x)]));
        case "listValue":
          return (v.listValue.values ?? []).map(plainValue);
        case "nullValue":
          return null;
        default:
          return v?.[v?.kind];
      }
    };
    const channels = konyChannels();

    it("queues an event carrying them (XML and JSON); the watcher gets them in the payload", async () => {
      const watch = new Watch(h.clients.hub, { appId: "demo", ksid: "xxxx" });
      await watchersLive(h);
      const xmlBody = doc.xmlRequest.replace(
        "</message>",
        `</message>\n  <email>\n    <recipients><recipient emailId="bob@example.com" id="42"/></recipients>\n    <from emailId="noreply@example.com"/>\n` +
          `    <content><priorityService>false</priorityService><eventNamePairs><key name="Email" content="bob@example.com"/></eventNamePairs></content>\n  </email>\n` +
          `  <sms>\n    <recipients><recipient mobile="+15550100" id="42"/></recipients>\n` +
          `    <content><mimeType>text/plain</mimeType><priorityService>false</priorityService></content>\n  </sms>`,
      );
      const jsonBody = JSON.parse(doc.jsonRequest);
      Object.assign(jsonBody.event, channels);
      const replies = [await post(`${base()}/kpns/service/eventpushmessage`, xmlBody, XML)];
      replies.push(await post(`${base()}/vpns/service/eventpushmessage`, JSON.stringify(jsonBody), JSON_TYPE));
      for (const r of replies) assert.equal(r.status, 200, r.body);
      assert.match(replies[0]!.body, /<description>Request Queued. <\/description>/);
      assert.equal(JSON.parse(replies[1]!.body).messageResponse.description, "Request Queued. ");
      await watch.received(2);
      for (const event of watch.events) {
        assert.equal(event.eventId, "1");
        assert.deepEqual(event.targets, ["xxxx"]);
        assert.deepEqual(plainValue((event as unknown as { payload: unknown }).payload), channels);
      }
      watch.cancel();
    });

    it("answers a malformed block with the contract's 400", async () => {
      const bad = JSON.parse(doc.jsonRequest);
      bad.event.email = "bob@example.com";
      const json = await post(`${base()}/kpns/service/eventpushmessage`, JSON.stringify(bad), JSON_TYPE);
      assert.equal(json.status, 400, json.body);
      assert.equal(JSON.parse(json.body).messageResponse.description, "Invalid request format. ");
      const xml = await post(
        `${base()}/kpns/service/eventpushmessage`,
        doc.xmlRequest.replace("</message>", "</message><sms><recipients><recipient>+15550100</recipient></recipients></sms>"),
        XML,
      );
      assert.equal(xml.status, 400, xml.body);
    });
  });

  describe("push messages and their status", () => {
    it("pushes to listed subscribers, reports the invalid ones, and the status follows delivery", async () => {
      const watch = new Watch(h.clients.hub, { appId: "demo", ksid: "xxxx" });
      await watchersLive(h);
      const reply = await post(
        `${base()}/kpns/api/v1/messages/push`,
        `<?xml version="1.0" encoding="utf-8"?>\n<messageRequest appId="demo">\n<global>\n<subscribers/>\n<platformSpecificProps/>\n</global>\n<messages>\n` +
          `<message expiryTimestamp="0" overrideMessageId="0" refId="" startTimestamp="0" type="PUSH">\n<subscribers>\n` +
          `<subscriber ksid="xxxx"/>\n<subscriber deviceId="no-such-device"/>\n</subscribers>\n<content>\n<mimeType>text/plain</mimeType>\n` +
          `<priorityService>true</priorityService>\n<data>Your parcel is on its way</data>\n</content>\n</message>\n</messages>\n</messageRequest>`,
        XML,
      );
      assert.equal(reply.status, 200, reply.body);
      const res = xmlOf(reply)["messageResponse"];
      assert.equal(res.description._text, "Request Queued. ");
      const requestId = res.requestId._text as string;
      assert.equal(res.messages.message._attributes.msgId, requestId);
      assert.deepEqual(res.invalidSubscribers.subscriber._attributes, { deviceId: "no-such-device" });
      await watch.received(1);
      assert.equal(watch.events[0]!.content?.data, "Your parcel is on its way");
      assert.equal(watch.events[0]!.content?.priority, true);
      watch.cancel();

      // Delivered to the live watcher of xxxx: the status says so (recorded asynchronously).
      let status: HttpReply;
      const deadline = Date.now() + 5000;
      for (;;) {
        status = await get(`${base()}/vpns/api/v1/status/push/request/${requestId}`);
        if (status.body.includes("Delivered") || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 10)); // polling interval for the asynchronous record
      }
      assert.equal(status.status, 200, status.body);
      assert.deepEqual(JSON.parse(status.body), {
        total: 1,
        messages: [{ pushId: requestId, ksid: "xxxx", status: "Delivered", statusMessage: "Push delivered to a live watcher. " }],
      });
    });

    it("groups the messages of one request under one request id; a subscriber without a watcher stays Submitted", async () => {
      const sub = await unary(h.clients.registry, "subscribe", { appId: "demo", deviceId: "offline-1", osType: "iphone" });
      const reply = await post(
        `${base()}/kpns/api/v1/messages/push`,
        JSON.stringify({
          messageRequest: {
            appId: "demo",
            messages: {
              message: [
                { type: "PUSH", subscribers: { subscriber: { ksid: sub.ksid } }, content: { data: "one" } },
                { type: "PUSH", subscribers: { subscriber: [{ deviceId: "offline-1" }] }, content: { data: "two" } },
              ],
            },
          },
        }),
        JSON_TYPE,
      );
      assert.equal(reply.status, 200, reply.body);
      const res = JSON.parse(reply.body).messageResponse;
      assert.equal(res.messages.length, 2);
      const status = JSON.parse((await get(`${base()}/kpns/api/v1/status/push/request/${res.requestId}`)).body);
      assert.equal(status.total, 2);
      assert.deepEqual(
        status.messages.map((m: any) => [String(m.pushId), m.ksid, m.status]),
        res.messages.map((m: any) => [String(m.msgId), sub.ksid, "Submitted"]),
      );
    });

    it("pushes to all active subscribers of an os type; unknown request ids are 404", async () => {
      const reply = await post(
        `${base()}/kpns/api/v1/messages/push`,
        JSON.stringify({
          messageRequest: {
            appId: "demo",
            messages: { message: { subscribers: { allActive: "true", osType: "androidgcm" }, content: { data: "all" } } },
          },
        }),
        JSON_TYPE,
      );
      assert.equal(reply.status, 200, reply.body);
      const missing = await get(`${base()}/kpns/api/v1/status/push/request/987654321`);
      assert.equal(missing.status, 404);
    });

    it("answers an unknown or unpublished app with 404 / 405", async () => {
      const push = (appId: string) =>
        post(
          `${base()}/kpns/api/v1/messages/push`,
          JSON.stringify({
            messageRequest: { appId, messages: { message: { subscribers: { allActive: true }, content: { data: "x" } } } },
          }),
          JSON_TYPE,
        );
      const unknown = await push("nope");
      assert.equal(unknown.status, 404);
      assert.equal(JSON.parse(unknown.body).messageResponse.description, "Invalid Kony Application ID. ");
      assert.equal((await push("drafts")).status, 405);
    });
  });

  describe("bad input gets the contract's answer, never a stack trace", () => {
    const url = () => `${base()}/kpns/service/eventpushmessage`;
    const invalidXml = xmlShape(doc.xmlResponses[2]!);
    const invalidJson = jsonShape(doc.jsonResponses[2]!);
    const expectInvalid = (r: HttpReply, format: "xml" | "json") => {
      assert.equal(r.status, 400, r.body);
      const diff =
        format === "xml" ? difference(xml2js(r.body, { compact: true }), invalidXml) : difference(JSON.parse(r.body), invalidJson);
      assert.equal(diff, undefined, r.body);
    };

    it("wrong or missing content type, empty body, whitespace body", async () => {
      expectInvalid(await post(url(), doc.xmlRequest, "text/plain"), "xml");
      expectInvalid(await post(url(), doc.xmlRequest, undefined), "xml");
      expectInvalid(await post(url(), "", XML), "xml");
      expectInvalid(await post(url(), "", JSON_TYPE), "json");
      expectInvalid(await post(url(), "  \n ", XML), "xml");
      expectInvalid(await post(url(), "null", JSON_TYPE), "json");
      expectInvalid(await post(url(), '"event"', JSON_TYPE), "json");
    });

    it("DOCTYPE / entities, deep nesting, unknown fields", async () => {
      expectInvalid(
        await post(
          url(),
          `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><event><eventid>&b;</eventid></event>`,
          XML,
        ),
        "xml",
      );
      expectInvalid(await post(url(), "<a>".repeat(1000) + "</a>".repeat(1000), XML), "xml");
      expectInvalid(await post(url(), "[".repeat(4000) + "]".repeat(4000), JSON_TYPE), "json");
      expectInvalid(await post(url(), doc.jsonRequest.replace('"eventid": "1"', '"eventid": "1", "colour": "red"'), JSON_TYPE), "json");
      expectInvalid(await post(url(), doc.xmlRequest.replace("<eventid>1</eventid>", "<eventid>1</eventid><colour/>"), XML), "xml");
    });

    it("a body over the limit gets 413 in the contract's shape, in both formats", async () => {
      const big = doc.xmlRequest.replace("<eventNamePairs>", `<eventNamePairs><!-- ${"x".repeat(9000)} -->`);
      const xml = await post(url(), big, XML);
      assert.equal(xml.status, 413);
      assert.equal(xml.contentType, XML);
      assert.deepEqual(xmlOf(xml)["messageResponse"].code._text, "413");
      const json = await post(url(), JSON.stringify({ event: { eventid: "1", pad: "x".repeat(9000) } }), JSON_TYPE);
      assert.equal(json.status, 413);
      assert.equal(JSON.parse(json.body).messageResponse.code, 413);
    });

    it("fuzz: 600 mutated and generated bodies each get a documented answer; the process keeps serving", async () => {
      let seed = 20261123;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      const alphabet = `<>/="' {}[]:,!?-&;\\\n\tabcdefxyz0123456789` + "\u00e9\u{1F600}\u0000";
      function mutate(s: string): string {
        let out = s;
        for (let k = 1 + rnd(4); k > 0; k--) {
          const at = rnd(out.length + 1);
          switch (rnd(5)) {
            case 0:
              out = out.slice(0, at) + out.slice(at + 1 + rnd(8));
              break;
            case 1:
              out = out.slice(0, at) + alphabet[rnd(alphabet.length)] + out.slice(at);
              break;
            case 2:
              out = out.slice(0, at) + out.slice(rnd(out.length), rnd(out.length)) + out.slice(at);
              break;
            case 3:
              out = out.slice(0, at);
              break;
            default:
              out = out.slice(0, at) + alphabet[rnd(alphabet.length)] + out.slice(at + 1);
          }
        }
        return out;
      }
      const documented = new Map<number, [unknown, unknown]>([
        [400, [xmlShape(doc.xmlResponses[2]!), jsonShape(doc.jsonResponses[2]!)]],
        [404, [xmlShape(doc.xmlResponses[3]!), jsonShape(doc.jsonResponses[3]!)]],
        [405, [xmlShape(doc.xmlResponses[4]!), jsonShape(doc.jsonResponses[4]!)]],
        [406, [xmlShape(doc.xmlResponses[5]!), jsonShape(doc.jsonResponses[5]!)]],
        [407, [xmlShape(doc.xmlResponses[6]!), jsonShape(doc.jsonResponses[6]!)]],
      ]);
      const seen = new Map<number, number>();
      for (let i = 0; i < 600; i++) {
        const json = i % 2 === 1;
        const body =
          i % 10 === 9
            ? JSON.stringify({
                event: {
                  eventid: rnd(3) === 0 ? rnd(1000) : String(rnd(4)),
                  message: rnd(2) ? "" : { subscribers: { subscriber: { ksid: "xxxx" } } },
                },
              })
            : mutate(json ? doc.jsonRequest : doc.xmlRequest);
        const reply = await post(url(), body, json ? JSON_TYPE : XML);
        seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
        const parsed = json ? JSON.parse(reply.body) : xml2js(reply.body, { compact: true });
        if (reply.status === 200) {
          const ok = json
            ? parsed.messageResponse?.description === "Request Queued. "
            : parsed.messageResponse?.description?._text === "Request Queued. ";
          assert.ok(ok, `${body}\n→ ${reply.body}`);
          continue;
        }
        const shapes = documented.get(reply.status);
        assert.ok(shapes, `undocumented status ${reply.status} for ${JSON.stringify(body)}\n→ ${reply.body}`);
        assert.equal(difference(parsed, shapes[json ? 1 : 0]), undefined, `${JSON.stringify(body)}\n→ ${reply.body}`);
      }
      assert.ok((seen.get(400) ?? 0) > 100, `mostly refused: ${JSON.stringify([...seen])}`);
      assert.equal((await post(url(), doc.xmlRequest, XML)).status, 200);
    });
  });
});
