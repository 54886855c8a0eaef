import { strict as assert } from "node:assert";
import { create, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { SubscriberRefSchema } from "../../core/gen/herald/v1/event_pb.js";
import { DeliveryState, GetMessageStatusResponseSchema, SendEventRequestSchema } from "../../core/gen/herald/v1/hub_pb.js";
import { parseXml } from "../../facade/xml.js";
import { checkDepth } from "../../facade/plain.js";
import { FormatError } from "../../facade/format-error.js";
import { eventPushToSendEvent, sendEventRequestOf } from "../../facade/kpns/event-push.js";
import { messageRequestToSendPush } from "../../facade/kpns/message-push.js";
import { parseSubscription, renderSubscriptionResponse } from "../../facade/kpns/subscription.js";
import { renderMessageResponse } from "../../facade/kpns/message-response.js";
import { statusBody } from "../../facade/kpns/status.js";
import { eventPushDocument } from "../support/contract-docs.js";
import { konyChannels } from "../support/kony.js";

const limits = { maxDepth: 32 };
const xml = (s: string) => parseXml(s, limits);
const refused = (f: () => unknown) => assert.throws(f, FormatError);

describe("kpns mapping (pure, no server)", () => {
  describe("eventpushmessage → SendEvent", () => {
    const expected = {
      eventId: "1",
      subscribers: [{ ref: { case: "ksid", value: "xxxx" } }],
      namePairs: [],
      content: { mimeType: "text/plain", priority: false },
    };

    it("builds the same SendEventRequest as create() does, whatever the document holds", () => {
      const docs: unknown[] = [
        ...(["kpns", "vpns"] as const).flatMap((w) => [xml(eventPushDocument(w).xmlRequest), JSON.parse(eventPushDocument(w).jsonRequest)]),
        {
          event: {
            eventid: "7",
            eventNamePairs: { key: [{ name: "a", content: "1" }, { name: "b" }] },
            message: {
              subscribers: { subscriber: [{ ksid: "k" }, { deviceId: "d" }, { ufid: "u" }] },
              content: { mimeType: "text/html", priorityService: "true" },
            },
            email: { from: { address: "a@example.com" }, recipients: { recipient: { address: "b@example.com" } } },
            sms: { content: { text: "hi" } },
          },
        },
        { event: { eventid: "8" } },
      ];
      for (const doc of docs) {
        const push = eventPushToSendEvent(doc);
        assert.deepStrictEqual(sendEventRequestOf(push), create(SendEventRequestSchema, push));
      }
    });

    it("maps the documents' XML and JSON samples to the same request", () => {
      for (const wording of ["kpns", "vpns"] as const) {
        const doc = eventPushDocument(wording);
        assert.deepEqual(eventPushToSendEvent(xml(doc.xmlRequest)), expected);
        assert.deepEqual(eventPushToSendEvent(JSON.parse(doc.jsonRequest)), expected);
      }
    });

    it("takes name pairs as attributes, as child elements and as JSON, numbers and booleans as strings or not", () => {
      const pairs = [
        { name: "lastname", content: "Smith" },
        { name: "order", content: "42" },
      ];
      const fromAttributes = xml(
        `<event><eventid>7</eventid><eventNamePairs><key name="lastname" content="Smith"/><key name="order" content="42"/></eventNamePairs>` +
          `<message><content><priorityService>TRUE</priorityService></content></message></event>`,
      );
      const fromElements = xml(
        `<event><eventid>7</eventid><eventNamePairs><key><name>lastname</name><content>Smith</content></key>` +
          `<key><name>order</name><content>42</content></key></eventNamePairs><message><content><priorityService>true</priorityService></content></message></event>`,
      );
      const fromJson = {
        event: {
          eventid: 7,
          eventNamePairs: {
            key: [
              { name: "lastname", content: "Smith" },
              { name: "order", content: 42 },
            ],
          },
          message: { content: { priorityService: true } },
        },
      };
      for (const doc of [fromAttributes, fromElements, fromJson]) {
        const req = eventPushToSendEvent(doc);
        assert.equal(req.eventId, "7");
        assert.deepEqual(req.namePairs, pairs);
        assert.equal(req.content?.priority, true);
        assert.deepEqual(req.subscribers, []); // no subscribers: every subscriber of the app
      }
    });

    it("takes one subscriber as an object and names by ksid, deviceId or ufid", () => {
      const req = eventPushToSendEvent({
        event: { eventid: "1", message: { subscribers: { subscriber: { deviceId: "d-1" } } } },
      });
      assert.deepEqual(req.subscribers, [{ ref: { case: "deviceId", value: "d-1" } }]);
      const many = eventPushToSendEvent(
        xml(
          `<event><eventid>1</eventid><message><subscribers><subscriber ufid="u"/><subscriber ksid="k" deviceId="d"/></subscribers></message></event>`,
        ),
      );
      assert.deepEqual(many.subscribers, [{ ref: { case: "ufid", value: "u" } }, { ref: { case: "ksid", value: "k" } }]);
    });

    it("carries Kony's engagement email and sms blocks, XML or JSON alike, into the payload", () => {
      // The shape of the console's event payload (GET /api/v1/events/{id}/payload), one recipient in XML.
      const json = {
        event: {
          eventid: "1",
          message: { subscribers: { subscriber: [{ ksid: "xxxx" }] }, content: { mimeType: "text/plain", priorityService: "false" } },
          ...konyChannels(),
          eventNamePairs: { key: [] },
        },
      };
      const fromXml = xml(
        `<?xml version='1.0' encoding='UTF-8'?><event><eventid>1</eventid><eventNamePairs></eventNamePairs>` +
          `<message><subscribers><subscriber ksid="xxxx"/></subscribers><content><mimeType>text/plain</mimeType><priorityService>false</priorityService></content></message>` +
          `<email><recipients><recipient emailId="bob@example.com" id="42"/></recipients><from emailId="noreply@example.com"/>` +
          `<content><priorityService>false</priorityService><eventNamePairs><key name="Email" content="bob@example.com"/></eventNamePairs></content></email>` +
          `<sms><recipients><recipient mobile="+15550100" id="42"/></recipients><content><mimeType>text/plain</mimeType><priorityService>false</priorityService></content></sms>` +
          `</event>`,
      );
      const expectedPayload = konyChannels();
      for (const doc of [json, fromXml]) {
        const req = eventPushToSendEvent(doc);
        assert.deepEqual({ ...req, payload: undefined }, { ...expected, payload: undefined });
        assert.deepEqual(toJson(ValueSchema, create(ValueSchema, req.payload)), expectedPayload);
      }
      // The audience-properties variant of the same blocks.
      const audience = eventPushToSendEvent(
        xml(
          `<event><eventid>1</eventid><email><from emailId="noreply@example.com"/><audienceMembers property="Email">` +
            `<audienceMember value="bob@example.com"/></audienceMembers><content><priorityService>false</priorityService></content></email></event>`,
        ),
      );
      assert.deepEqual(toJson(ValueSchema, create(ValueSchema, audience.payload)), {
        email: {
          from: { emailId: "noreply@example.com" },
          audienceMembers: { property: "Email", audienceMember: [{ value: "bob@example.com" }] },
          content: { priorityService: "false" },
        },
      });
      // Only one channel, or an empty block: just what is there.
      const smsOnly = eventPushToSendEvent({ event: { eventid: "1", email: "", sms: { recipients: { recipient: { mobile: "1" } } } } });
      assert.deepEqual(toJson(ValueSchema, create(ValueSchema, smsOnly.payload)), {
        sms: { recipients: { recipient: [{ mobile: "1" }] } },
      });
      assert.equal(eventPushToSendEvent(xml("<event><eventid>1</eventid><email/><sms></sms></event>")).payload, undefined);
    });

    it("refuses malformed email and sms blocks", () => {
      const event = (extra: object) => ({ event: { eventid: "1", ...extra } });
      refused(() => eventPushToSendEvent(event({ email: "bob@example.com" })));
      refused(() => eventPushToSendEvent(event({ sms: ["+15550100"] })));
      refused(() => eventPushToSendEvent(event({ email: { from: "noreply@example.com" } })));
      refused(() => eventPushToSendEvent(event({ email: { recipients: { recipient: ["bob@example.com"] } } })));
      refused(() => eventPushToSendEvent(event({ sms: { recipients: { recipient: [{}, ""] } } })));
      refused(() => eventPushToSendEvent(event({ sms: { content: 7 } })));
      refused(() => eventPushToSendEvent(xml("<event><eventid>1</eventid><email>bob@example.com</email></event>")));
      refused(() => eventPushToSendEvent(event({ fax: { recipients: {} } })));
    });

    it("refuses unknown fields, a missing event id, a subscriber naming nobody, a wrong root, bad booleans", () => {
      refused(() => eventPushToSendEvent({ event: { eventid: "1", appId: "x" } }));
      refused(() => eventPushToSendEvent({ event: { eventid: "1", message: { content: { colour: "red" } } } }));
      refused(() => eventPushToSendEvent({ event: { eventNamePairs: {} } }));
      refused(() => eventPushToSendEvent({ event: { eventid: "  " } }));
      refused(() => eventPushToSendEvent({ event: { eventid: "1", message: { subscribers: { subscriber: [{}] } } } }));
      refused(() => eventPushToSendEvent({ push: {} }));
      refused(() => eventPushToSendEvent([]));
      refused(() => eventPushToSendEvent({ event: { eventid: { nested: "1" } } }));
      refused(() => eventPushToSendEvent({ event: { eventid: "1", message: { content: { priorityService: "maybe" } } } }));
    });
  });

  describe("parseXml", () => {
    it("refuses DOCTYPE and entity declarations, without expanding anything", () => {
      refused(() =>
        xml(
          `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><event><eventid>&lol2;</eventid></event>`,
        ),
      );
      refused(() => xml(`<!DOCTYPE event SYSTEM "file:///etc/passwd"><event/>`));
    });

    it("refuses malformed documents, several roots, mixed content, nesting beyond the limit", () => {
      refused(() => xml(`<event><eventid>1</event>`));
      refused(() => xml(`<a/><b/>`));
      refused(() => xml(`not xml at all`));
      refused(() => xml(`<event>text<eventid>1</eventid></event>`));
      refused(() => xml(`<a x="1"><x>2</x></a>`));
      refused(() => xml("<a>".repeat(33) + "</a>".repeat(33)));
      assert.doesNotThrow(() => xml("<a>".repeat(32) + "</a>".repeat(32)));
    });

    it("ignores comments and the declaration, reads CDATA as text", () => {
      assert.deepEqual(xml(`<?xml version='1.0'?><!-- c --><a><b><![CDATA[<x>]]></b><!-- enable authToken --></a>`), { a: { b: "<x>" } });
    });

    it("checks JSON depth iteratively, whatever the depth", () => {
      let deep: unknown = {};
      for (let i = 0; i < 100_000; i++) deep = [deep];
      refused(() => checkDepth(deep, 32));
      assert.doesNotThrow(() => checkDepth({ a: [{ b: 1 }] }, 3));
      refused(() => checkDepth({ a: [{ b: {} }] }, 3));
    });
  });

  describe("push messageRequest → SendPush", () => {
    it("maps the original's XML (attributes) and JSON (one message as an object) alike", () => {
      const fromXml = messageRequestToSendPush(
        xml(
          `<?xml version="1.0" encoding="utf-8"?><messageRequest appId="demo"><global><subscribers/><platformSpecificProps/></global>` +
            `<messages><message expiryTimestamp="0" overrideMessageId="0" refId="" startTimestamp="0" type="PUSH">` +
            `<subscribers><subscriber deviceId="dev-1"/><subscriber ksid="k-2"/></subscribers>` +
            `<content><mimeType>text/plain</mimeType><priorityAPI>false</priorityAPI><data>hello</data></content></message></messages></messageRequest>`,
        ),
      );
      const fromJson = messageRequestToSendPush({
        messageRequest: {
          appId: "demo",
          global: {},
          messages: {
            message: {
              type: "PUSH",
              subscribers: { subscriber: [{ deviceId: "dev-1" }, { ksid: "k-2" }] },
              content: { mimeType: "text/plain", data: "hello" },
            },
          },
        },
      });
      const expected = [
        {
          appId: "demo",
          subscribers: [{ ref: { case: "deviceId", value: "dev-1" } }, { ref: { case: "ksid", value: "k-2" } }],
          allActive: false,
          osType: "",
          content: { mimeType: "text/plain", data: "hello", priority: false },
        },
      ];
      assert.deepEqual(fromXml, expected);
      assert.deepEqual(fromJson, expected);
    });

    it("maps allActive with an os type, and global subscribers for messages without their own", () => {
      const [all] = messageRequestToSendPush({
        messageRequest: {
          appId: "demo",
          messages: { message: { subscribers: { allActive: "true", osType: "androidgcm" }, content: { data: "x" } } },
        },
      });
      assert.equal(all!.allActive, true);
      assert.equal(all!.osType, "androidgcm");
      const [one, two] = messageRequestToSendPush(
        xml(
          `<messageRequest><appId>demo</appId><global><subscribers><subscriber ksid="g"/></subscribers></global><messages>` +
            `<message><content><data>a</data></content></message><message><subscribers><subscriber ksid="own"/></subscribers><content><data>b</data></content></message></messages></messageRequest>`,
        ),
      );
      assert.deepEqual(one!.subscribers, [{ ref: { case: "ksid", value: "g" } }]);
      assert.deepEqual(two!.subscribers, [{ ref: { case: "ksid", value: "own" } }]);
    });

    it("refuses no app, no message, no data, no subscribers, unknown fields, another type", () => {
      const msg = { subscribers: { subscriber: { ksid: "k" } }, content: { data: "x" } };
      refused(() => messageRequestToSendPush({ messageRequest: { messages: { message: msg } } }));
      refused(() => messageRequestToSendPush({ messageRequest: { appId: "a", messages: {} } }));
      refused(() => messageRequestToSendPush({ messageRequest: { appId: "a", messages: { message: { ...msg, content: {} } } } }));
      refused(() => messageRequestToSendPush({ messageRequest: { appId: "a", messages: { message: { content: { data: "x" } } } } }));
      refused(() => messageRequestToSendPush({ messageRequest: { appId: "a", messages: { message: { ...msg, colour: "red" } } } }));
      refused(() => messageRequestToSendPush({ messageRequest: { appId: "a", messages: { message: { ...msg, type: "SMS" } } } }));
    });
  });

  describe("subscriptionService", () => {
    it("reads subscribe (with the original's authToken) and unsubscribe by ksid or by device", () => {
      const sub = parseSubscription(
        xml(
          `<?xml version='1.0' encoding='UTF-8'?><subscriptionService><subscribe><appId>demo</appId><deviceId>d</deviceId><ufid>u</ufid>` +
            `<sid>s</sid><osType>iphone</osType><!-- enable authToken if you want to enable security --><authToken>t</authToken></subscribe></subscriptionService>`,
        ),
      );
      assert.deepEqual(sub, { kind: "subscribe", appId: "demo", deviceId: "d", ufid: "u", sid: "s", osType: "iphone" });
      assert.deepEqual(parseSubscription({ subscriptionService: { unsubscribe: { appId: "demo", ksid: "k", deviceId: "d" } } }), {
        kind: "unsubscribe",
        appId: "demo",
        ksid: "k",
        deviceId: "d",
      });
      refused(() => parseSubscription({ subscriptionService: { subscribe: { appId: "demo", deviceId: "d", osType: "iphone" } } })); // no sid
      // A ksid names the subscription: the app may be left out (not the device alone).
      assert.deepEqual(parseSubscription(xml("<subscriptionService><unsubscribe><ksid> k </ksid></unsubscribe></subscriptionService>")), {
        kind: "unsubscribe",
        appId: "",
        ksid: "k",
        deviceId: "",
      });
      assert.deepEqual(parseSubscription({ subscriptionService: { unsubscribe: { ksid: 12 } } }), {
        kind: "unsubscribe",
        appId: "",
        ksid: "12",
        deviceId: "",
      });
      refused(() => parseSubscription({ subscriptionService: { unsubscribe: { deviceId: "d" } } }));
      refused(() => parseSubscription({ subscriptionService: { unsubscribe: { appId: "demo" } } }));
      refused(() => parseSubscription({ subscriptionService: {} }));
      refused(() => parseSubscription({ subscriptionService: { subscribe: {}, unsubscribe: {} } }));
    });

    it("renders subscriptionResponse in both formats", () => {
      assert.equal(
        renderSubscriptionResponse("xml", { code: 200, ksid: "12", message: "Subscription successful. " }).body,
        "<subscriptionResponse>\n    <statusCode>200</statusCode>\n    <ksid>12</ksid>\n    <message>Subscription successful. </message>\n</subscriptionResponse>",
      );
      assert.deepEqual(JSON.parse(renderSubscriptionResponse("json", { code: 400, message: "Invalid request format. " }).body), {
        subscriptionResponse: { statusCode: 400, message: "Invalid request format. " },
      });
    });
  });

  describe("messageResponse", () => {
    const invalid = [create(SubscriberRefSchema, { ref: { case: "ksid", value: 'a"<b' } })];

    it("writes the documents' XML layout, escaping values", () => {
      const r = renderMessageResponse("xml", { code: 200, description: "Request Queued. ", msgIds: ["-1"], invalidSubscribers: invalid });
      assert.equal(r.status, 200);
      assert.equal(r.contentType, "text/xml;charset=UTF-8");
      assert.equal(
        r.body,
        "<messageResponse>\n    <code>200</code>\n    <description>Request Queued. </description>\n    <invalidSubscribers>\n" +
          '        <subscriber ksid="a&quot;&lt;b"></subscriber>\n    </invalidSubscribers>\n    <messages>\n' +
          '        <message  msgId="-1" ></message>\n    </messages>\n</messageResponse>',
      );
    });

    it("writes JSON msgIds as numbers of any size, invalid subscribers with all three names, 500 bare", () => {
      const r = renderMessageResponse("json", {
        code: 200,
        description: "Request Queued. ",
        msgIds: ["123456789012345678901"],
        invalidSubscribers: invalid,
      });
      assert.equal(r.contentType, "application/json;charset=UTF-8");
      assert.match(r.body, /"msgId":123456789012345678901/);
      assert.deepEqual(JSON.parse(r.body).messageResponse.invalidSubscribers, [{ ufid: "", ksid: 'a"<b', deviceId: "" }]);
      assert.equal(
        renderMessageResponse("json", { code: 500, description: "x", msgIds: [], invalidSubscribers: [] }).body,
        '{"500":"Server failed to process the request."}',
      );
    });
  });

  it("status: one row per message and subscriber", () => {
    const body = statusBody(
      create(GetMessageStatusResponseSchema, {
        messages: [
          {
            msgId: "5",
            subscribers: [
              { ksid: "a", state: DeliveryState.DELIVERED },
              { ksid: "b", state: DeliveryState.QUEUED },
            ],
          },
          { msgId: "6", subscribers: [{ ksid: "a", state: DeliveryState.QUEUED }] },
        ],
      }),
    );
    assert.equal(body.total, 3);
    assert.deepEqual(
      body.messages.map((m) => [m.pushId, m.ksid, m.status]),
      [
        ["5", "a", "Delivered"],
        ["5", "b", "Submitted"],
        ["6", "a", "Submitted"],
      ],
    );
  });
});
