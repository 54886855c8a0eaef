import type { App, EventDefinition, Subscriber } from "../gen/herald/v1/registry_pb.js";
import type { SubscriberRef } from "../gen/herald/v1/event_pb.js";
import type { MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventHandler } from "../gen/herald/v1/handler_pb.js";

/**
 * The registry: apps, their events and their subscribers.
 *
 * Guarantees (test/contract/store-contract.ts checks them against every implementation):
 * - Values returned never change the store: they are copies, or (apps and event definitions, read
 *   on every send) frozen, so that writing to one throws.
 * - Event ids are global: `getEvent(id)` finds an event without knowing its app.
 * - `subscribe` is idempotent for the same app + device_id + ufid: it returns the existing
 *   subscriber (updated os_type / sid) with the same ksid. ksids are unique across apps.
 * - `deleteApp` removes the app's events and subscribers too.
 * - `resolve` maps subscriber references of one app to ksids: a ksid must be an active subscriber of
 *   that app, a device_id or ufid must name at least one; the result holds each ksid once, in the
 *   order of the references, and every reference that named nobody, in order.
 * - Delivery status (GetMessageStatus) is kept per request id:
 *   - `recordMessage` records a published message; every ksid it targeted starts QUEUED.
 *   - `markDelivered` is idempotent (the first delivery time wins) and may run before the
 *     `recordMessage` of its message (watchers can see an event before the publisher records it):
 *     the mark is kept and the later record does not reset it. On a broadcast message it adds
 *     the ksid; on a targeted one, marks for ksids it did not target are ignored.
 *   - `messageStatus` lists the recorded messages of a request id in send order (msg_id order),
 *     each with its targets in the order given, then, for a broadcast, the ksids delivered to (by
 *     delivery time); undefined when nothing was recorded under that id or it expired.
 *   - A request id's status is kept `messageStatusTtlMs` from its first record or mark, never
 *     extended (so a reused id cannot grow without end); MemoryStore also keeps at most
 *     `messageStatusMax` request ids, dropping the oldest.
 * - Event handlers live under their app id, which need not be a registered app (deleteApp leaves
 *   them): `getHandler` with another app id finds nothing. `listHandlers` is in creation order.
 *   `createHandler` refuses (undefined) when the app already has `maxPerApp` handlers.
 *   `replaceHandler` is a compare-and-set: it writes only if the stored revision is the new one's
 *   minus one, so concurrent updates on different instances never lose one another.
 *   A handler's cursor (the offset its streams delivered up to) only moves forward, and goes
 *   with the handler.
 * - When the backing service is unreachable, calls reject with a `StoreUnavailableError` promptly.
 */
export interface Store {
  upsertApp(app: App): Promise<App>;
  getApp(id: string): Promise<App | undefined>;
  listApps(): Promise<App[]>;
  deleteApp(id: string): Promise<boolean>;

  /** The event's app must exist (the caller checks). Moving an event to another app is allowed. */
  upsertEvent(event: EventDefinition): Promise<EventDefinition>;
  getEvent(id: string): Promise<EventDefinition | undefined>;
  listEvents(appId: string): Promise<EventDefinition[]>;
  deleteEvent(id: string): Promise<boolean>;

  /** `ksid` in the input is honoured when set (seed files), else one is assigned. */
  subscribe(subscriber: SubscriberInput): Promise<Subscriber>;
  unsubscribe(ksid: string): Promise<boolean>;
  getSubscriber(ksid: string): Promise<Subscriber | undefined>;
  listSubscribers(appId: string): Promise<Subscriber[]>;
  resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved>;

  recordMessage(record: MessageRecord): Promise<void>;
  /** `timeMs`: when the event was handed to the subscriber's watcher (ms since the epoch). */
  markDelivered(requestId: string, msgId: string, ksid: string, timeMs: number): Promise<void>;
  messageStatus(requestId: string): Promise<MessageStatus[] | undefined>;

  /** `cursor`: where a first stream of the handler starts (the app's latest offset now). */
  createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined>;
  getHandler(appId: string, id: string): Promise<EventHandler | undefined>;
  listHandlers(appId: string): Promise<EventHandler[]>;
  /** False when the stored revision is not `handler.revision - 1` (or the handler is gone). */
  replaceHandler(handler: EventHandler): Promise<boolean>;
  /** The handler as it was, undefined if there was none. */
  deleteHandler(appId: string, id: string): Promise<EventHandler | undefined>;
  /** Keeps the greater of the stored cursor and `offset`; nothing when the handler is gone. */
  advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void>;
  /** 0 when the handler is gone. */
  handlerCursor(appId: string, id: string): Promise<bigint>;

  close(): Promise<void>;
}

export interface SubscriberInput {
  appId: string;
  deviceId: string;
  ufid: string;
  osType: string;
  sid?: string;
  ksid?: string;
}

export interface Resolved {
  ksids: string[];
  invalid: SubscriberRef[];
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

/** Retention of delivery status; both stores take it. */
export interface MessageStatusOptions {
  /** How long a request id's status is kept after its first record or mark (ms). */
  messageStatusTtlMs: number;
}

export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}
