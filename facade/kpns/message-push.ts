import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SendPushRequestSchema } from "../../core/gen/herald/v1/hub_pb.js";
import { FormatError } from "../format-error.js";
import { bool, list, record, requiredText, text } from "../plain.js";
import { subscriberRefs } from "./subscribers.js";

export type SendPushInit = MessageInitShape<typeof SendPushRequestSchema>;

/** Fields of a `message` the original documents; accepted, and those Herald has no use for ignored. */
const MESSAGE_FIELDS = [
  "type",
  "subscribers",
  "content",
  "expiryTimestamp",
  "overrideMessageId",
  "refId",
  "startTimestamp",
  "platformSpecificProps",
];
const CONTENT_FIELDS = ["mimeType", "data", "priorityService", "priorityAPI", "richContent"];
const SUBSCRIBERS_FIELDS = ["subscriber", "allActive", "osType"];

/**
 * The push `messageRequest` (XML through parseXml, or JSON) → one SendPush per message. Pure.
 * Subscribers are listed (`subscriber`: ksid / ufid / deviceId) or `allActive` (optionally of
 * one `osType`); a message without subscribers takes `global.subscribers`.
 */
export function messageRequestToSendPush(doc: unknown): SendPushInit[] {
  const root = record(doc, "body", ["messageRequest"]);
  if (root["messageRequest"] === undefined) throw new FormatError("the root element is not messageRequest");
  const request = record(root["messageRequest"], "messageRequest", ["appId", "global", "messages"]);
  const appId = requiredText(request["appId"], "messageRequest.appId");
  const global = record(request["global"], "messageRequest.global", ["subscribers", "platformSpecificProps"]);
  const messages = list(record(request["messages"], "messageRequest.messages", ["message"])["message"]);
  if (messages.length === 0) throw new FormatError("messageRequest.messages has no message");

  return messages.map((item, i) => {
    const at = `messageRequest.messages.message[${i}]`;
    const message = record(item, at, MESSAGE_FIELDS);
    const type = text(message["type"], `${at}.type`)?.trim();
    if (type && type.toUpperCase() !== "PUSH") throw new FormatError(`${at}.type must be PUSH`);
    const content = record(message["content"], `${at}.content`, CONTENT_FIELDS);
    const data = text(content["data"], `${at}.content.data`) ?? "";
    if (data === "") throw new FormatError(`${at}.content.data is required`);
    const own = message["subscribers"] === undefined || message["subscribers"] === "";
    const subscribers = record(own ? global["subscribers"] : message["subscribers"], `${at}.subscribers`, SUBSCRIBERS_FIELDS);
    const allActive = bool(subscribers["allActive"], `${at}.subscribers.allActive`, false);
    const refs = allActive ? [] : subscriberRefs(subscribers["subscriber"], `${at}.subscribers.subscriber`);
    if (!allActive && refs.length === 0) throw new FormatError(`${at} has no subscribers and is not allActive`);
    const priority =
      bool(content["priorityService"], `${at}.content.priorityService`, false) ||
      bool(content["priorityAPI"], `${at}.content.priorityAPI`, false);
    return {
      appId,
      subscribers: refs,
      allActive,
      osType: allActive ? (text(subscribers["osType"], `${at}.subscribers.osType`)?.trim() ?? "") : "",
      content: {
        mimeType: text(content["mimeType"], `${at}.content.mimeType`)?.trim() || "text/plain",
        data,
        priority,
      },
    };
  });
}
