import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../core/gen/herald/v1/event_pb.js";
import { asciiXml } from "./ascii-xml.js";
import { isXmsEventType } from "./xms-schema.js";

/**
 * One event as an XMS stream carries it: its byte length in hexadecimal, CRLF, then exactly that
 * many bytes of XML (the XML ends with a newline, counted in the length). The documents are ASCII
 * (asciiXml), so the length is also their length in characters.
 */
export function frame(xml: string): Buffer {
  const body = Buffer.from(xml, "utf8");
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, "latin1"), body]);
}

export const KEEPALIVE_XML = `<web_service version="1.0">\n<event type="keepalive"/>\n</web_service>\n`;
export const KEEPALIVE_FRAME = frame(KEEPALIVE_XML);

/**
 * A Herald event as an XMS `event`, or undefined when its type is not an event type of the
 * schema (a Kony event, typed by nothing but its event id; a push without a type; any type of
 * Herald's own): an XMS client cannot read those, XMLBeans' enumeration reads them as null.
 * Otherwise `type`, `resource_id`, `resource_type` from its routing attributes, then one
 * `event_data` per name pair, per top-level field of a JSON object payload (strings as they are,
 * other values as JSON; a payload that is not an object is one "payload"), and the message
 * content, if any, as "content". Pure.
 */
export function renderEvent(event: Event): string | undefined {
  if (!isXmsEventType(event.type)) return undefined;
  let attrs = `type="${event.type}"`;
  if (event.resourceId !== "") attrs += ` resource_id="${asciiXml(event.resourceId)}"`;
  if (event.resourceType !== "") attrs += ` resource_type="${asciiXml(event.resourceType)}"`;
  let data = "";
  const add = (name: string, value: string) => (data += `<event_data name="${asciiXml(name)}" value="${asciiXml(value)}"/>\n`);
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

const rendered = new WeakMap<Event, Buffer | null>();

/**
 * The framed event, or undefined when it is not one for XMS streams (renderEvent). Rendered once
 * however many streams carry it: in-process, every stream of an instance receives the same Event
 * object.
 */
export function eventFrame(event: Event): Buffer | undefined {
  let f = rendered.get(event);
  if (f === undefined) {
    const xml = renderEvent(event);
    rendered.set(event, (f = xml === undefined ? null : frame(xml)));
  }
  return f ?? undefined;
}
