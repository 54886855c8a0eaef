import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { EventKind, EventSchema } from "../../core/gen/herald/v1/event_pb.js";
import { EventHandlerSchema } from "../../core/gen/herald/v1/handler_pb.js";
import { parseXml } from "../../facade/xml.js";
import { FormatError } from "../../facade/format-error.js";
import { parseEventHandlerRequest, renderHandler, renderHandlers, subscriptionsToCreate } from "../../facade/xms/documents.js";
import { eventFrame, frame, KEEPALIVE_FRAME, renderEvent } from "../../facade/xms/event-frame.js";
import { FrameParser } from "../support/xms-client.js";

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

  it("renders handlers with escaped attributes and an absolute /default href", () => {
    const h = create(EventHandlerSchema, {
      id: "id-1",
      appId: `a"<&`,
      subscriptions: [{ type: "any", resourceType: "call", resourceId: "x&y" }],
    });
    assert.equal(
      renderHandler(h, "http://host:81"),
      `<web_service version="1.0">\n<eventhandler_response identifier="id-1" appid="a&quot;&lt;&amp;" href="http://host:81/default/eventhandlers/id-1">\n` +
        `<eventsubscribe type="any" resource_id="x&amp;y" resource_type="call"/>\n</eventhandler_response>\n</web_service>\n`,
    );
    assert.match(renderHandlers([], "http://h"), /<eventhandlers_response size="0">\n<\/eventhandlers_response>/);
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
        `<event_data name="content" value="α &amp; ω"/>\n</event>\n</web_service>\n`,
    );
    const push = create(EventSchema, {
      kind: EventKind.PUSH,
      payload: { kind: { case: "listValue", value: { values: [{ kind: { case: "boolValue", value: true } }] } } },
    });
    assert.equal(
      renderEvent(push),
      `<web_service version="1.0">\n<event type="push">\n<event_data name="payload" value="[true]"/>\n</event>\n</web_service>\n`,
    );
    assert.equal(eventFrame(event), eventFrame(event), "rendered once per event object");
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
