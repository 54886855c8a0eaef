import { createHash } from "node:crypto";
import webPush from "web-push";
import { PushChannel, type WebPushProvider } from "../gen/herald/v1/push_pb.js";
import { type GuardedHttp, HttpCallError } from "./guarded-http.js";
import { retryAfterMs, type PushNotification, type PushOutcome, type PushSender } from "./push-sender.js";

/** Push services refuse bodies above 4 KiB; the encryption adds 86 bytes (one record, aes128gcm). */
const MAX_PAYLOAD = 4096 - 86;

/**
 * Web Push (RFC 8030) to the endpoint of the subscriber's PushSubscription: the payload encrypted
 * for it (RFC 8291, aes128gcm) and signed with the app's VAPID key (RFC 8292), both by the
 * `web-push` library; the request itself goes through the guarded client, since endpoints come from
 * subscribers. The payload is JSON `{id, title, body, data}`.
 */
export class WebPushSender implements PushSender<WebPushProvider> {
  readonly channel = PushChannel.WEB_PUSH;

  constructor(private readonly http: GuardedHttp) {}

  async send(p: WebPushProvider, n: PushNotification, signal: AbortSignal): Promise<PushOutcome> {
    let subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
    try {
      subscription = JSON.parse(n.token) as typeof subscription;
    } catch {
      return { kind: "failed", reason: "the subscription is not JSON", unregistered: false };
    }
    const payload = JSON.stringify({ id: n.id, title: n.title, body: n.body, data: n.data });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) return { kind: "failed", reason: "payload too large", unregistered: false };
    let details;
    try {
      details = webPush.generateRequestDetails(subscription, payload, {
        vapidDetails: { subject: p.subject, publicKey: p.publicKey, privateKey: p.privateKey },
        TTL: Math.max(0, Math.floor((n.expiresAtMs - Date.now()) / 1000)),
        urgency: n.priority ? "high" : "normal",
        // Topic: at most 32 base64url characters; a collapse id of any shape is hashed to fit.
        ...(n.collapseId === "" ? {} : { topic: createHash("sha256").update(n.collapseId).digest("base64url").slice(0, 32) }),
        contentEncoding: "aes128gcm",
      });
    } catch (err) {
      return {
        kind: "failed",
        reason: `cannot build the request: ${err instanceof Error ? err.message : String(err)}`,
        unregistered: false,
      };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(details.headers)) headers[k.toLowerCase()] = String(v);
    let res;
    try {
      res = await this.http.call(details.endpoint, { method: "POST", headers, body: details.body ?? "" }, signal);
    } catch (err) {
      const e = err instanceof HttpCallError ? err : new HttpCallError(String(err), false);
      return e.refused ? { kind: "failed", reason: e.message, unregistered: false } : { kind: "retry", reason: e.message };
    }
    const status = res.status;
    if (status >= 200 && status < 300) {
      const location = res.headers["location"];
      return { kind: "delivered", providerId: typeof location === "string" ? location : "", status };
    }
    const reason = `status ${status}${res.body.trim() === "" ? "" : `: ${res.body.trim().slice(0, 200)}`}`;
    // 404 and 410: the subscription expired or was unsubscribed.
    if (status === 404 || status === 410) return { kind: "failed", reason, status, unregistered: true };
    if (status === 429 || status >= 500) {
      const after = retryAfterMs(res.headers["retry-after"]);
      return { kind: "retry", reason, status, ...(after === undefined ? {} : { retryAfterMs: after }) };
    }
    return { kind: "failed", reason, status, unregistered: false };
  }

  async close(): Promise<void> {}
}
