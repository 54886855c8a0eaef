import type { EventHandler, EventSubscription } from "../../core/gen/herald/v1/handler_pb.js";
import { FormatError } from "../format-error.js";
import { record, text } from "../plain.js";
import { escapeXml } from "../xml.js";

/** Event types of the XMS schema (`event_type`), plus its default. */
export const EVENT_TYPES = new Set([
  "any",
  "end_play",
  "end_playcollect",
  "end_playrecord",
  "end_overlay",
  "incoming",
  "ringing",
  "connected",
  "hangup",
  "info",
  "dtmf",
  "cpa",
  "tone",
  "keepalive",
]);
/** Resource types of the XMS schema (`event_resource_type`). */
export const RESOURCE_TYPES = new Set(["any", "call", "conference"]);

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
    if (!EVENT_TYPES.has(type)) throw new FormatError(`${at}: unknown type "${type}"`);
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

/** `href` of a handler: real servers answer under /default, and clients build URLs from it. */
export function handlerHref(origin: string, id: string): string {
  return `${origin}/default/eventhandlers/${encodeURIComponent(id)}`;
}

function handlerElement(handler: EventHandler, origin: string): string {
  const subs = handler.subscriptions
    .map(
      (s) =>
        `<eventsubscribe type="${escapeXml(s.type || "any")}" resource_id="${escapeXml(s.resourceId || "any")}" resource_type="${escapeXml(s.resourceType || "any")}"/>\n`,
    )
    .join("");
  return (
    `<eventhandler_response identifier="${escapeXml(handler.id)}" appid="${escapeXml(handler.appId)}" href="${escapeXml(handlerHref(origin, handler.id))}">\n` +
    subs +
    `</eventhandler_response>\n`
  );
}

/** The reply to a create, update or get of one handler. */
export function renderHandler(handler: EventHandler, origin: string): string {
  return `<web_service version="1.0">\n${handlerElement(handler, origin)}</web_service>\n`;
}

/** The reply to a get of all handlers of an appid (with the declaration, as the document's sample). */
export function renderHandlers(handlers: readonly EventHandler[], origin: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<web_service version="1.0">\n` +
    `<eventhandlers_response size="${handlers.length}">\n` +
    handlers.map((h) => handlerElement(h, origin)).join("") +
    `</eventhandlers_response>\n</web_service>\n`
  );
}

/** An error reply: the status and what went wrong, in a `web_service` document. */
export function renderError(status: number, reason: string): string {
  return `<web_service version="1.0">\n<error status="${status}" reason="${escapeXml(reason)}"/>\n</web_service>\n`;
}
