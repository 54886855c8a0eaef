import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { EventKind, type Event } from "../../core/gen/herald/v1/event_pb.js";
import { escapeXml } from "../xml.js";

/**
 * One event as an XMS stream carries it: its byte length in hexadecimal, CRLF, then exactly that
 * many bytes of XML (the XML ends with a newline, counted in the length).
 */
export function frame(xml: string): Buffer {
  const body = Buffer.from(xml, "utf8");
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, "latin1"), body]);
}

export const KEEPALIVE_XML = `<web_service version="1.0">\n<event type="keepalive"/>\n</web_service>\n`;
export const KEEPALIVE_FRAME = frame(KEEPALIVE_XML);

/**
 * A Herald event as an XMS `event`: `type`, `resource_id`, `resource_type` from its routing
 * attributes (a Kony event without a type is typed by its event id, a push without one "push"),
 * then one `event_data` per name pair, per top-level field of a JSON object payload (strings as
 * they are, other values as JSON; a payload that is not an object is one "payload"), and the
 * message content, if any, as "content". Pure.
 */
export function renderEvent(event: Event): string {
  const type = event.type || event.eventId || (event.kind === EventKind.PUSH ? "push" : "event");
  let attrs = `type="${escapeXml(type)}"`;
  if (event.resourceId !== "") attrs += ` resource_id="${escapeXml(event.resourceId)}"`;
  if (event.resourceType !== "") attrs += ` resource_type="${escapeXml(event.resourceType)}"`;
  let data = "";
  const add = (name: string, value: string) => (data += `<event_data name="${escapeXml(name)}" value="${escapeXml(value)}"/>\n`);
  for (const pair of event.namePairs) add(pair.name, pair.content);
  if (event.payload) {
    const payload = toJson(ValueSchema, event.payload);
    if (payload !== null && typeof payload === "object" && !Array.isArray(payload)) {
      for (const [name, value] of Object.entries(payload)) add(name, typeof value === "string" ? value : JSON.stringify(value));
    } else {
      add("payload", typeof payload === "string" ? payload : JSON.stringify(payload));
    }
  }
  if (event.content && event.content.data !== "") add("content", event.content.data);
  return `<web_service version="1.0">\n<event ${attrs}>\n${data}</event>\n</web_service>\n`;
}

const rendered = new WeakMap<Event, Buffer>();

/**
 * The framed event, rendered once however many streams carry it: in-process, every stream of an
 * instance receives the same Event object.
 */
export function eventFrame(event: Event): Buffer {
  let f = rendered.get(event);
  if (!f) rendered.set(event, (f = frame(renderEvent(event))));
  return f;
}
