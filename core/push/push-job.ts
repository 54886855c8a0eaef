import { createHash } from "node:crypto";

/**
 * One message's pushes to devices, as queued (JSON, short keys: it is written once per message).
 * The targets are resolved when the job runs, so a broadcast to a large app costs the send nothing.
 */
export interface PushJob {
  /** Request id (status key). */
  r: string;
  /** Message id. */
  m: string;
  /** App id. */
  a: string;
  /** The ksids targeted; empty for a broadcast. */
  k: string[];
  /** Broadcast: every active subscriber of the app (of os type `o` when set). */
  b: boolean;
  o: string;
  /** Title. */
  t: string;
  /** Body (the message's content). */
  c: string;
  /** Priority. */
  p: boolean;
  /** Expiry, ms since the epoch. */
  e: number;
  /** Collapse id. */
  x: string;
  /** Event id, "" for an ad-hoc push. */
  v: string;
  /** When it was queued (ms since the epoch): the enqueue → provider latency starts here. */
  q: number;
}

/**
 * The push's id: a UUID made from the message and the subscriber, the same on every attempt and on
 * every instance, so that a push repeated after a crash carries the id of the first (APNs `apns-id`).
 */
export function pushId(requestId: string, msgId: string, ksid: string): string {
  const h = createHash("sha256").update(requestId).update("\0").update(msgId).update("\0").update(ksid).digest("hex");
  // Version 8 (custom), RFC 9562 variant.
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
