import type { EventHandler, EventSubscription } from "../../core/gen/herald/v1/handler_pb.js";
import { FormatError } from "../format-error.js";
import { record, text } from "../plain.js";
import { asciiXml } from "./ascii-xml.js";
import { RESOURCE_TYPES, SUBSCRIBE_TYPES } from "./xms-schema.js";

export const XMS_TYPE = "application/xml";

/** One `eventsubscribe` of a request, schema defaults applied. */
export interface SubscribeItem {
  action: "add" | "remove";
  type: string;
  resourceId: string;
  resourceType: string;
}

/**
 * `<web_service><eventhandler><eventsubscribe …/>…</eventhandler></web_service>` (after parseXml)
 * → its eventsubscribe items in order, with the schema's defaults (`any`, action `add`). Unknown
 * elements or attributes, an unknown type, resource type or action: FormatError. Pure.
 */
export function parseEventHandlerRequest(doc: unknown): SubscribeItem[] {
  const root = record(doc, "body", ["web_service"]);
  if (root["web_service"] === undefined) throw new FormatError("the root element is not web_service");
  const ws = record(root["web_service"], "web_service", ["version", "eventhandler"]);
  if (ws["eventhandler"] === undefined || Array.isArray(ws["eventhandler"])) {
    throw new FormatError("web_service holds one eventhandler");
  }
  const handler = record(ws["eventhandler"], "eventhandler", ["eventsubscribe"]);
  // An empty <eventsubscribe/> reads as "": one subscription with every default.
  const raw = handler["eventsubscribe"];
  const items = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (items.length === 0) throw new FormatError("eventhandler holds at least one eventsubscribe");
  return items.map((item, i) => {
    const at = `eventsubscribe[${i}]`;
    const s = record(item, at, ["action", "type", "resource_id", "resource_type"]);
    const value = (name: string) => text(s[name], `${at}.${name}`)?.trim() || undefined;
    const action = value("action") ?? "add";
    const type = value("type") ?? "any";
    const resourceType = value("resource_type") ?? "any";
    if (action !== "add" && action !== "remove") throw new FormatError(`${at}: unknown action "${action}"`);
    if (!SUBSCRIBE_TYPES.has(type)) throw new FormatError(`${at}: unknown type "${type}"`);
    if (!RESOURCE_TYPES.has(resourceType)) throw new FormatError(`${at}: unknown resource_type "${resourceType}"`);
    return { action, type, resourceId: value("resource_id") ?? "any", resourceType };
  });
}

/** A create applies its items to nothing: what is left is the new handler's subscriptions. */
export function subscriptionsToCreate(
  items: readonly SubscribeItem[],
): Array<Pick<EventSubscription, "type" | "resourceType" | "resourceId">> {
  const out: SubscribeItem[] = [];
  for (const item of items) {
    const at = out.findIndex((o) => o.type === item.type && o.resourceType === item.resourceType && o.resourceId === item.resourceId);
    if (item.action === "add" && at < 0) out.push(item);
    if (item.action === "remove" && at >= 0) out.splice(at, 1);
  }
  if (out.length === 0) throw new FormatError("an eventhandler needs at least one eventsubscribe to add");
  return out.map(({ type, resourceType, resourceId }) => ({ type, resourceType, resourceId }));
}

/**
 * `href` of a handler: its path under /default, as XMS 2.3 answers (the absolute URL goes in a
 * create's `Location`). Dialogic's samples put `http://host:port` before it.
 */
export function handlerHref(id: string): string {
  return `/default/eventhandlers/${encodeURIComponent(id)}`;
}

function handlerElement(handler: EventHandler): string {
  const subs = handler.subscriptions
    .map(
      (s) =>
        `<eventsubscribe type="${asciiXml(s.type || "any")}" resource_id="${asciiXml(s.resourceId || "any")}" resource_type="${asciiXml(s.resourceType || "any")}"/>\n`,
    )
    .join("");
  return (
    `<eventhandler_response identifier="${asciiXml(handler.id)}" appid="${asciiXml(handler.appId)}" href="${asciiXml(handlerHref(handler.id))}">\n` +
    subs +
    `</eventhandler_response>\n`
  );
}

/** The reply to a create, update or get of one handler. */
export function renderHandler(handler: EventHandler): string {
  return `<web_service version="1.0">\n${handlerElement(handler)}</web_service>\n`;
}

/** The reply to a get of all handlers of an appid (with the declaration, as the document's sample). */
export function renderHandlers(handlers: readonly EventHandler[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<web_service version="1.0">\n` +
    `<eventhandlers_response size="${handlers.length}">\n` +
    handlers.map((h) => handlerElement(h)).join("") +
    `</eventhandlers_response>\n</web_service>\n`
  );
}

/** An error reply: the status and what went wrong, in a `web_service` document. */
export function renderError(status: number, reason: string): string {
  return `<web_service version="1.0">\n<error status="${status}" reason="${asciiXml(reason)}"/>\n</web_service>\n`;
}
