import type { SubscriberRef } from "../../core/gen/herald/v1/event_pb.js";
import { escapeXml } from "../xml.js";
import type { BodyFormat } from "../body.js";
import { SERVER_FAILED } from "./wording.js";

/** What a `messageResponse` says, whatever its format. */
export interface MessageReply {
  code: number;
  description: string;
  /** One per message; "-1" for a message nobody valid was left to receive. */
  msgIds: string[];
  invalidSubscribers: SubscriberRef[];
  /** The push route's request id (GET …/status/push/request/{id}). */
  requestId?: string;
}

export interface Rendered {
  status: number;
  contentType: string;
  body: string;
}

export const XML_TYPE = "text/xml;charset=UTF-8";
export const JSON_TYPE = "application/json;charset=UTF-8";

/** Renders a `messageResponse` in the layout of the documents. The HTTP status equals `code`. */
export function renderMessageResponse(format: BodyFormat, reply: MessageReply): Rendered {
  if (format === "json") {
    // The documents' one exception: a server error is a bare {"500": "..."}.
    const body =
      reply.code === 500
        ? JSON.stringify({ "500": SERVER_FAILED })
        : `{"messageResponse":{"invalidSubscribers":${JSON.stringify(reply.invalidSubscribers.map(jsonSubscriber))},` +
          `"description":${JSON.stringify(reply.description)},"code":${reply.code}` +
          (reply.requestId === undefined ? "" : `,"requestId":${JSON.stringify(reply.requestId)}`) +
          `,"messages":[${reply.msgIds.map((id) => `{"msgId":${jsonId(id)}}`).join(",")}]}}`;
    return { status: reply.code, contentType: JSON_TYPE, body };
  }
  let body = `<messageResponse>\n    <code>${reply.code}</code>\n    <description>${escapeXml(reply.description)}</description>\n`;
  if (reply.requestId !== undefined) body += `    <requestId>${escapeXml(reply.requestId)}</requestId>\n`;
  if (reply.invalidSubscribers.length > 0) {
    body += "    <invalidSubscribers>\n";
    for (const ref of reply.invalidSubscribers) body += `        <subscriber ${xmlSubscriber(ref)}></subscriber>\n`;
    body += "    </invalidSubscribers>\n";
  }
  if (reply.msgIds.length === 0) {
    body += "    <messages></messages>\n";
  } else {
    body += "    <messages>\n";
    for (const id of reply.msgIds) body += `        <message  msgId="${escapeXml(id)}" ></message>\n`;
    body += "    </messages>\n";
  }
  body += "</messageResponse>";
  return { status: reply.code, contentType: XML_TYPE, body };
}

/** Message ids are numbers in the JSON documents; digits are written as they are (no 2^53 limit). */
function jsonId(id: string): string {
  return /^-?\d{1,30}$/.test(id) ? id : JSON.stringify(id);
}

/** The JSON documents echo an invalid subscriber with all three names. */
function jsonSubscriber(ref: SubscriberRef): { ufid: string; ksid: string; deviceId: string } {
  return {
    ufid: ref.ref.case === "ufid" ? ref.ref.value : "",
    ksid: ref.ref.case === "ksid" ? ref.ref.value : "",
    deviceId: ref.ref.case === "deviceId" ? ref.ref.value : "",
  };
}

function xmlSubscriber(ref: SubscriberRef): string {
  const name = ref.ref.case ?? "ksid";
  return `${name}="${escapeXml(ref.ref.value ?? "")}"`;
}
