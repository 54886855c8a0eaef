import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { DeliveryState, MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { PushChannel } from "../gen/herald/v1/push_pb.js";

/**
 * Delivery status (GetMessageStatus), kept per request id.
 *
 * Guarantees (test/suites/store-suite.ts checks them against every implementation):
 * - `recordMessage` records a published message; every ksid it targeted starts QUEUED.
 * - `markDelivered` is idempotent (the first delivery time wins) and may run before the
 *   `recordMessage` of its message (watchers can see an event before the publisher records it):
 *   the mark is kept and the later record does not reset it. On a broadcast message it adds the
 *   ksid; on a targeted one, marks for ksids it did not target are ignored.
 * - `messageStatus` lists the recorded messages of a request id in send order (msg_id order), each
 *   with its targets in the order given, then, for a broadcast, the ksids delivered to (by delivery
 *   time); undefined when nothing was recorded under that id or it expired.
 * - A request id's status is kept `messageStatusTtlMs` from its first record or mark, never
 *   extended (so a reused id cannot grow without end); the memory store also keeps at most
 *   `messageStatusMax` request ids, dropping the oldest.
 * - When the backing service is unreachable, calls reject with an `UnavailableError` promptly.
 */
export interface StatusStore {
  recordMessage(record: MessageRecord): Promise<void>;
  /** `timeMs`: when the event was handed to the subscriber's watcher (ms since the epoch). */
  markDelivered(requestId: string, msgId: string, ksid: string, timeMs: number): Promise<void>;
  messageStatus(requestId: string): Promise<MessageStatus[] | undefined>;
  /**
   * Records where a message's push to one subscriber's device stands (the last write wins; the
   * push engine writes in order). It shows in `messageStatus` as that subscriber's `pushes`; on a
   * broadcast, a ksid not yet listed is added (after the watcher deliveries). Kept like the rest of
   * the request id's status.
   */
  markPush(requestId: string, msgId: string, ksid: string, state: PushState): Promise<void>;
  /** The push states of one message, by ksid (the push engine reads them when it takes a job over). */
  pushStates(requestId: string, msgId: string): Promise<Map<string, PushState>>;
}

/** A message's push to one device (PushDelivery without the protobuf). */
export interface PushState {
  channel: PushChannel;
  state: DeliveryState;
  reason: string;
  /** When it reached this state (ms since the epoch). */
  timeMs: number;
  attempts: number;
  providerId: string;
}

/** A published message, for delivery status. */
export interface MessageRecord {
  /** The request_id it was sent with, else its msg_id. */
  requestId: string;
  /** Numeric, as the bus assigns it (send order is msg_id order). */
  msgId: string;
  appId: string;
  /** The ksids targeted, in resolved order; empty for a broadcast. */
  ksids: string[];
  /** Sent to no list: every (os type's) subscriber of the app. */
  broadcast: boolean;
  /** When the core accepted it (the envelope's time). */
  time: Timestamp;
}
