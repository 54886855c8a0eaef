import type { PushChannel } from "../gen/herald/v1/push_pb.js";

/** One notification to one device, as every push service gets it. */
export interface PushNotification {
  /**
   * Herald's id of this push (a UUID made from the message and the subscriber): the same on every
   * attempt, so that a push repeated after a crash can be recognised (`apns-id`, FCM data
   * `herald_id`, Web Push payload `id`).
   */
  id: string;
  /** The device token (the subscriber's sid): APNs device token, FCM registration token, Web Push subscription JSON. */
  token: string;
  title: string;
  body: string;
  /** Extra string fields for the app (message id, event id, …). */
  data: Record<string, string>;
  /** Deliver at once (APNs priority 10, FCM/Web Push high urgency) rather than when convenient. */
  priority: boolean;
  /** After this the push services stop trying (ms since the epoch). */
  expiresAtMs: number;
  /** Replaces undelivered notifications with the same id; empty: none. */
  collapseId: string;
}

/** What a push service made of one attempt. */
export type PushOutcome =
  /** Accepted: the service will deliver it. `providerId`: its id of the notification. */
  | { kind: "delivered"; providerId: string; status: number }
  /** Worth trying again (429, 5xx, a connection lost, a timeout); `retryAfterMs` from the service's Retry-After. */
  | { kind: "retry"; reason: string; status?: number; retryAfterMs?: number }
  /**
   * Refused for good (bad token, payload too large, bad credentials). `unregistered`: the token is
   * no longer valid (APNs 410 Unregistered, FCM UNREGISTERED), the subscription should go.
   */
  | { kind: "failed"; reason: string; status?: number; unregistered: boolean };

/**
 * A push service client (APNs, FCM, Web Push).
 *
 * Guarantees:
 * - `send` never throws and never retries by itself: every attempt ends in one outcome, and the
 *   caller decides about retries (it owns the backoff, the budget and the status record).
 * - `delivered` only on the service's acceptance; `failed` only when repeating the same request
 *   cannot succeed; everything else (429, 5xx, transport errors, timeouts) is `retry`.
 * - The notification's `id` goes to the service as its idempotency id where it has one.
 * - Connections to the service are not opened to addresses the outbound guard refuses
 *   (loopback, private, … unless allowed): a refused address is `failed`.
 * - `signal` aborting ends the attempt at once as `retry` ("interrupted").
 * - Credentials (`C`, the app's provider) may change between calls; derived tokens are cached per
 *   credential and renewed before they expire.
 */
export interface PushSender<C> {
  readonly channel: PushChannel;
  send(credentials: C, notification: PushNotification, signal: AbortSignal): Promise<PushOutcome>;
  /** Closes connections; calls in flight end as `retry`. */
  close(): Promise<void>;
}

/** Retry-After (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
