import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SendEventRequestSchema } from "../../core/gen/herald/v1/hub_pb.js";
import { FormatError } from "../format-error.js";
import { bool, list, record, requiredText, text } from "../plain.js";
import { subscriberRefs } from "./subscribers.js";

export type SendEventInit = MessageInitShape<typeof SendEventRequestSchema>;

/**
 * The `eventpushmessage` document (XML through parseXml, or JSON) → SendEvent. Pure: tested
 * without a server. Unknown fields are refused; the app is the event's own.
 */
export function eventPushToSendEvent(doc: unknown): SendEventInit {
  const root = record(doc, "body", ["event"]);
  if (root["event"] === undefined) throw new FormatError("the root element is not event");
  const event = record(root["event"], "event", ["eventid", "eventNamePairs", "message"]);
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

  return {
    eventId,
    subscribers: subscriberRefs(subscribers["subscriber"], "event.message.subscribers.subscriber"),
    namePairs,
    content: {
      mimeType: text(content["mimeType"], "event.message.content.mimeType")?.trim() || "text/plain",
      priority: bool(content["priorityService"], "event.message.content.priorityService", false),
    },
  };
}
