import { fromJson, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import type { SendEventRequest, SendEventRequestSchema } from "../../core/gen/herald/v1/hub_pb.js";
import type { SubscriberRef } from "../../core/gen/herald/v1/event_pb.js";
import { FormatError } from "../format-error.js";
import { bool, list, record, requiredText, text, type Plain } from "../plain.js";
import { subscriberRefs } from "./subscribers.js";

export type SendEventInit = MessageInitShape<typeof SendEventRequestSchema>;

/** What an eventpushmessage says, in SendEvent's terms. */
export interface EventPush {
  eventId: string;
  subscribers: ReturnType<typeof subscriberRefs>;
  namePairs: Array<{ name: string; content: string }>;
  content: { mimeType: string; priority: boolean };
  payload?: Value;
}

/**
 * Kony engagement channels an event may carry beside its push `message` (the console's event
 * payload: `email` with `from`, `recipients`, `content`; `sms` with `recipients`, `content`; either
 * with `audienceMembers`). Herald sends no email or SMS itself: it carries them to the watchers in
 * the event's `payload`, `{"email": …, "sms": …}`.
 */
const CHANNELS = ["email", "sms"] as const;
/** Parts of a channel block that are objects when present; other fields are carried as they are. */
const CHANNEL_OBJECTS = ["from", "recipients", "audienceMembers", "content"];
/** Lists of objects inside a channel block, by path: one item (a single XML element) stands for a list of one. */
const CHANNEL_LISTS = [
  ["recipients", "recipient"],
  ["audienceMembers", "audienceMember"],
  ["content", "eventNamePairs", "key"],
] as const;

/**
 * The `eventpushmessage` document (XML through parseXml, or JSON) → SendEvent. Pure: tested
 * without a server. Unknown fields are refused; the app is the event's own.
 */
export function eventPushToSendEvent(doc: unknown): EventPush {
  const root = record(doc, "body", ["event"]);
  if (root["event"] === undefined) throw new FormatError("the root element is not event");
  const event = record(root["event"], "event", ["eventid", "eventNamePairs", "message", ...CHANNELS]);
  const eventId = requiredText(event["eventid"], "event.eventid");

  const pairs = record(event["eventNamePairs"], "event.eventNamePairs", ["key"]);
  const namePairs = list(pairs["key"]).map((item, i) => {
    const at = `event.eventNamePairs.key[${i}]`;
    const key = record(item, at, ["name", "content"]);
    return { name: requiredText(key["name"], `${at}.name`), content: text(key["content"], `${at}.content`) ?? "" };
  });

  const message = record(event["message"], "event.message", ["subscribers", "content"]);
  const subscribers = record(message["subscribers"], "event.message.subscribers", ["subscriber"]);
  const content = record(message["content"], "event.message.content", ["mimeType", "priorityService"]);

  const channels: JsonObject = {};
  for (const name of CHANNELS) {
    const block = channelBlock(event[name], `event.${name}`);
    if (block) channels[name] = block;
  }

  return {
    eventId,
    subscribers: subscriberRefs(subscribers["subscriber"], "event.message.subscribers.subscriber"),
    namePairs,
    content: {
      mimeType: text(content["mimeType"], "event.message.content.mimeType")?.trim() || "text/plain",
      priority: bool(content["priorityService"], "event.message.content.priorityService", false),
    },
    ...(Object.keys(channels).length > 0 ? { payload: fromJson(ValueSchema, channels) } : {}),
  };
}

/**
 * The SendEventRequest of an EventPush, written as a literal of every field: create() walks the
 * descriptor of the message and of each one inside it (~2 µs of a facade request, measured). The
 * same message as `create(SendEventRequestSchema, push)` (test/facade/kpns-mapping.test.ts holds
 * them equal).
 */
export function sendEventRequestOf(push: EventPush): SendEventRequest {
  const request: SendEventRequest = {
    $typeName: "herald.v1.SendEventRequest",
    appId: "",
    eventId: push.eventId,
    subscribers: push.subscribers.map((s) => ({ $typeName: "herald.v1.SubscriberRef", ref: s.ref }) as SubscriberRef),
    namePairs: push.namePairs.map(({ name, content }) => ({ $typeName: "herald.v1.NamePair", name, content })),
    content: { $typeName: "herald.v1.Content", mimeType: push.content.mimeType, data: "", priority: push.content.priority },
    type: "",
    resourceType: "",
    resourceId: "",
    requestId: "",
    idempotencyKey: "",
  };
  if (push.payload) request.payload = push.payload;
  return request;
}

/**
 * An `email` / `sms` block: an object whose known parts are objects and whose known lists are lists
 * of objects (so that XML and JSON carry the same shape); absent or empty → undefined.
 */
function channelBlock(value: unknown, where: string): JsonObject | undefined {
  const block = object(value, where);
  if (!block || Object.keys(block).length === 0) return undefined;
  let out: Plain = { ...block };
  for (const part of CHANNEL_OBJECTS) {
    if (block[part] !== undefined) out[part] = object(block[part], `${where}.${part}`) ?? {};
  }
  for (const path of CHANNEL_LISTS) out = withList(out, path, where);
  return out as JsonObject;
}

/** `parent` with the list at `path` (objects along it) as an array of objects; unchanged when absent. */
function withList(parent: Plain, path: readonly string[], where: string): Plain {
  const [head, ...rest] = path;
  if (head === undefined || parent[head] === undefined) return parent;
  const at = `${where}.${head}`;
  if (rest.length > 0) return { ...parent, [head]: withList(object(parent[head], at) ?? {}, rest, at) };
  const items = list(parent[head]);
  items.forEach((item, i) => {
    if (!object(item, `${at}[${i}]`)) throw new FormatError(`${at}[${i}] is empty`);
  });
  return { ...parent, [head]: items };
}

/** An object of any fields; absent or "" (an empty XML element) → undefined; anything else is malformed. */
function object(value: unknown, where: string): Plain | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FormatError(`${where} must be an object`);
  return value as Plain;
}
