import { strict as assert } from "node:assert";
import { xml2js } from "xml-js";
import { create } from "@bufbuild/protobuf";
import { EventKind, EventSchema } from "../../core/gen/herald/v1/event_pb.js";
import { EventHandlerSchema } from "../../core/gen/herald/v1/handler_pb.js";
import { parseXml } from "../../facade/xml.js";
import { FormatError } from "../../facade/format-error.js";
import { parseEventHandlerRequest, renderHandler, renderHandlers, subscriptionsToCreate } from "../../facade/xms/documents.js";
import { eventFrame, frame, KEEPALIVE_FRAME, renderEvent } from "../../facade/xms/event-frame.js";
import { CharFrameReader, FrameParser } from "../support/xms-client.js";
import { SCHEMA_EVENT_TYPES, SCHEMA_RESOURCE_TYPES, schemaProblems } from "../support/dialogic-clients.js";

const parse = (xml: string) => parseEventHandlerRequest(parseXml(xml, { maxDepth: 32 }));
const wrap = (inner: string) => `<web_service version="1.0"><eventhandler>${inner}</eventhandler></web_service>`;

/** The XMS mapping functions, without a server. */
describe("XMS mapping", () => {
  it("reads eventsubscribe items in order with the schema's defaults", () => {
    assert.deepEqual(parse(wrap(`<eventsubscribe/><eventsubscribe action="remove" type="dtmf" resource_id="c1" resource_type="call"/>`)), [
      { action: "add", type: "any", resourceId: "any", resourceType: "any" },
      { action: "remove", type: "dtmf", resourceId: "c1", resourceType: "call" },
    ]);
  });

  it("reads every event type and resource type of xmsrest.xsd, and the document's cpa", () => {
    for (const type of [...SCHEMA_EVENT_TYPES, "cpa"]) assert.equal(parse(wrap(`<eventsubscribe type="${type}"/>`))[0]!.type, type);
    for (const rt of SCHEMA_RESOURCE_TYPES) assert.equal(parse(wrap(`<eventsubscribe resource_type="${rt}"/>`))[0]!.resourceType, rt);
  });

  it("refuses unknown values, attributes and elements with a FormatError", () => {
    for (const bad of [
      wrap(`<eventsubscribe type="ring"/>`),
      wrap(`<eventsubscribe resource_type="mixer"/>`),
      wrap(`<eventsubscribe action="flip"/>`),
      wrap(`<eventsubscribe foo="1"/>`),
      wrap(`<eventsubscribe/><other/>`),
      wrap(""),
      `<web_service><eventhandler><eventsubscribe/></eventhandler><eventhandler><eventsubscribe/></eventhandler></web_service>`,
      `<eventhandler><eventsubscribe/></eventhandler>`,
    ]) {
      assert.throws(() => parse(bad), FormatError, bad);
    }
  });

  it("applies a create's items to nothing: removes cancel adds, and nothing left is refused", () => {
    const items = parse(
      wrap(
        `<eventsubscribe type="ringing"/><eventsubscribe type="hangup"/><eventsubscribe action="remove" type="ringing"/><eventsubscribe type="hangup"/>`,
      ),
    );
    assert.deepEqual(subscriptionsToCreate(items), [{ type: "hangup", resourceType: "any", resourceId: "any" }]);
    assert.throws(() => subscriptionsToCreate(parse(wrap(`<eventsubscribe action="remove"/>`))), FormatError);
  });

  it("renders handlers in ASCII with escaped attributes and href the /default path, as XMS 2.3", () => {
    const h = create(EventHandlerSchema, {
      id: "id-1",
      appId: `a"<&ü`,
      subscriptions: [{ type: "any", resourceType: "call", resourceId: "x&y\u{1F389}" }],
    });
    assert.equal(
      renderHandler(h),
      `<web_service version="1.0">\n<eventhandler_response identifier="id-1" appid="a&quot;&lt;&amp;&#xFC;" href="/default/eventhandlers/id-1">\n` +
        `<eventsubscribe type="any" resource_id="x&amp;y&#x1F389;" resource_type="call"/>\n</eventhandler_response>\n</web_service>\n`,
    );
    assert.match(renderHandlers([]), /<eventhandlers_response size="0">\n<\/eventhandlers_response>/);
  });

  it("renders an event: attributes, name pairs, payload fields, content; a non-object payload as one item", () => {
    const event = create(EventSchema, {
      kind: EventKind.EVENT,
      eventId: "9",
      type: "dtmf",
      resourceType: "call",
      resourceId: "c-1",
      namePairs: [{ name: "digits", content: "12#" }],
      payload: {
        kind: {
          case: "structValue",
          value: { fields: { who: { kind: { case: "stringValue", value: "bob" } }, n: { kind: { case: "numberValue", value: 3 } } } },
        },
      },
      content: { data: "α & ω" },
    });
    assert.equal(
      renderEvent(event),
      `<web_service version="1.0">\n<event type="dtmf" resource_id="c-1" resource_type="call">\n` +
        `<event_data name="digits" value="12#"/>\n<event_data name="who" value="bob"/>\n<event_data name="n" value="3"/>\n` +
        `<event_data name="content" value="&#x3B1; &amp; &#x3C9;"/>\n</event>\n</web_service>\n`,
    );
    const push = create(EventSchema, {
      kind: EventKind.PUSH,
      type: "message",
      payload: { kind: { case: "listValue", value: { values: [{ kind: { case: "boolValue", value: true } }] } } },
    });
    assert.equal(
      renderEvent(push),
      `<web_service version="1.0">\n<event type="message">\n<event_data name="payload" value="[true]"/>\n</event>\n</web_service>\n`,
    );
    assert.equal(eventFrame(event), eventFrame(event), "rendered once per event object");
  });

  it("renders no event whose type is not an event type of xmsrest.xsd: an XMS client cannot read it", () => {
    for (const e of [
      { kind: EventKind.EVENT, eventId: "1" }, // a Kony event: typed by nothing but its id
      { kind: EventKind.PUSH },
      { kind: EventKind.EVENT, eventId: "9", type: "order.created" },
      { kind: EventKind.EVENT, eventId: "9", type: "any" }, // a subscription's wildcard, not an event's type
      { kind: EventKind.EVENT, eventId: "9", type: "cpa" }, // in the document's list, not in the schema
    ]) {
      assert.equal(eventFrame(create(EventSchema, e)), undefined, JSON.stringify(e));
    }
    for (const type of SCHEMA_EVENT_TYPES.filter((t) => t !== "any")) {
      const f = eventFrame(create(EventSchema, { kind: EventKind.EVENT, eventId: "9", type }));
      assert.ok(f, type);
      assert.deepEqual(schemaProblems(new FrameParser().push(f)[0]!), [], type);
    }
  });

  it("writes text as ASCII, the rest as character references, so a length in bytes is one in characters", () => {
    const text = 'Zoë 東京 \u{1F389} O\'Brien & <Sons> "q" tab\tLF\nCRLF\r\n';
    const event = create(EventSchema, {
      kind: EventKind.EVENT,
      type: "info",
      resourceType: "cönference",
      resourceId: "ид",
      namePairs: [{ name: "naïve", content: text }],
    });
    const f = eventFrame(event)!;
    assert.ok(
      f.every((b) => b < 0x80),
      "ASCII only",
    );
    const [xml] = new FrameParser().push(f);
    assert.deepEqual(new CharFrameReader().push(f), [xml], "read as characters, the same document");
    assert.match(
      xml!,
      /value="Zo&#xEB; &#x6771;&#x4EAC; &#x1F389; O&apos;Brien &amp; &lt;Sons&gt; &quot;q&quot; tab&#x9;LF&#xA;CRLF&#xD;&#xA;"/,
    );
    const back = xml2js(xml!, { compact: true }) as Record<string, any>;
    const ev = back["web_service"].event;
    assert.deepEqual(ev._attributes, { type: "info", resource_id: "ид", resource_type: "cönference" });
    assert.deepEqual(ev.event_data._attributes, { name: "naïve", value: text }, "decodes back to the text sent");
  });

  it("replaces what XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF) with U+FFFD", () => {
    const event = create(EventSchema, {
      kind: EventKind.EVENT,
      type: "info",
      namePairs: [{ name: "c", content: "a\u0000b\u0001c\u001fd\ud800e\udc00f\ufffeg\uffffh\u007fi\u0085j" }],
    });
    const [xml] = new FrameParser().push(eventFrame(event)!);
    assert.deepEqual(schemaProblems(xml!), []);
    const back = xml2js(xml!, { compact: true }) as Record<string, any>;
    assert.equal(
      back["web_service"].event.event_data._attributes.value,
      "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh\u007fi\u0085j",
    );
  });

  it("frames by UTF-8 byte length in hex, and a parser reads frames back across every possible cut", () => {
    const one = frame("<web_service>é</web_service>\n"); // é is two bytes
    assert.equal(one.subarray(0, 4).toString(), "1e\r\n"); // 13 + 2 + 14 + 1 bytes
    const stream = Buffer.concat([one, KEEPALIVE_FRAME, frame("<web_service>" + "x".repeat(300) + "</web_service>\n")]);
    const whole = new FrameParser().push(stream);
    assert.equal(whole.length, 3);
    for (let cut = 1; cut < stream.length; cut++) {
      const p = new FrameParser();
      assert.deepEqual([...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))], whole, `cut at ${cut}`);
    }
    const bytewise = new FrameParser();
    const docs: string[] = [];
    for (const b of stream) docs.push(...bytewise.push(Buffer.from([b])));
    assert.deepEqual(docs, whole);
  });
});
