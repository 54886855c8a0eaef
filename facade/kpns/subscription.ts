import { FormatError } from "../format-error.js";
import { record, requiredText, text } from "../plain.js";
import { escapeXml } from "../xml.js";
import type { BodyFormat } from "../body.js";
import { JSON_TYPE, XML_TYPE, type Rendered } from "./message-response.js";

export type SubscriptionCommand =
  | { kind: "subscribe"; appId: string; deviceId: string; ufid: string; sid: string; osType: string }
  /** By ksid (`appId` "" when not given), else by `appId` + `deviceId`. */
  | { kind: "unsubscribe"; appId: string; ksid: string; deviceId: string };

/** `subscriptionService` with `subscribe` or `unsubscribe` (XML through parseXml, or JSON). Pure. */
export function parseSubscription(doc: unknown): SubscriptionCommand {
  const root = record(doc, "body", ["subscriptionService"]);
  if (root["subscriptionService"] === undefined) throw new FormatError("the root element is not subscriptionService");
  const service = record(root["subscriptionService"], "subscriptionService", ["subscribe", "unsubscribe"]);
  if ((service["subscribe"] === undefined) === (service["unsubscribe"] === undefined)) {
    throw new FormatError("subscriptionService holds exactly one of subscribe, unsubscribe");
  }
  if (service["subscribe"] !== undefined) {
    const at = "subscriptionService.subscribe";
    // authToken and deviceName are part of the original request; Herald does not use them.
    const s = record(service["subscribe"], at, ["appId", "deviceId", "ufid", "sid", "osType", "authToken", "deviceName"]);
    return {
      kind: "subscribe",
      appId: requiredText(s["appId"], `${at}.appId`),
      deviceId: requiredText(s["deviceId"], `${at}.deviceId`),
      ufid: text(s["ufid"], `${at}.ufid`)?.trim() ?? "",
      sid: requiredText(s["sid"], `${at}.sid`),
      osType: requiredText(s["osType"], `${at}.osType`),
    };
  }
  const at = "subscriptionService.unsubscribe";
  const u = record(service["unsubscribe"], at, ["ksid", "appId", "deviceId", "authToken"]);
  const ksid = text(u["ksid"], `${at}.ksid`)?.trim() ?? "";
  const deviceId = text(u["deviceId"], `${at}.deviceId`)?.trim() ?? "";
  // By ksid (which names the subscription, so the app is optional), or by app + device, as the
  // original allows.
  if (ksid === "" && deviceId === "") throw new FormatError(`${at} needs a ksid or a deviceId`);
  const appId = ksid === "" ? requiredText(u["appId"], `${at}.appId`) : (text(u["appId"], `${at}.appId`)?.trim() ?? "");
  return { kind: "unsubscribe", appId, ksid, deviceId };
}

export interface SubscriptionReply {
  code: number;
  message: string;
  ksid?: string;
}

export const SUBSCRIBED = "Subscription successful. ";
export const UNSUBSCRIBED = "Unsubscription successful. ";
export const SUBSCRIBER_INVALID = "Invalid KSID. ";

/** `subscriptionResponse` {statusCode, ksid, message}; the HTTP status equals statusCode. */
export function renderSubscriptionResponse(format: BodyFormat, reply: SubscriptionReply): Rendered {
  if (format === "json") {
    const body = JSON.stringify({
      subscriptionResponse: {
        statusCode: reply.code,
        ...(reply.ksid === undefined ? {} : { ksid: reply.ksid }),
        message: reply.message,
      },
    });
    return { status: reply.code, contentType: JSON_TYPE, body };
  }
  const body =
    `<subscriptionResponse>\n    <statusCode>${reply.code}</statusCode>\n` +
    (reply.ksid === undefined ? "" : `    <ksid>${escapeXml(reply.ksid)}</ksid>\n`) +
    `    <message>${escapeXml(reply.message)}</message>\n</subscriptionResponse>`;
  return { status: reply.code, contentType: XML_TYPE, body };
}
