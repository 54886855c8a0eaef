import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { copyTimestamp } from "../timestamp.js";
import { DeliveryState, MessageStatusSchema, type MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { MessageRecord, PushState } from "./status-store.js";

const NO_PUSHES: ReadonlyMap<string, PushState> = new Map();

/** What a store keeps of a message (the request id is its key). */
export type RecordedMessage = Omit<MessageRecord, "requestId">;

/** Send order: msg ids are numeric strings without leading zeros. */
export function compareMsgIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * One message's status, built the same way by every store: its targets in order, then (broadcast
 * only) the other ksids delivered to, by delivery time. Marks for ksids a targeted message did not
 * target cannot come from a watcher and are ignored.
 */
export function messageStatusOf(
  record: RecordedMessage,
  delivered: ReadonlyMap<string, number>,
  pushes: ReadonlyMap<string, PushState> = NO_PUSHES,
): MessageStatus {
  const subscriber = (ksid: string) => {
    const at = delivered.get(ksid);
    const push = pushes.get(ksid);
    const pushList = push
      ? [
          {
            channel: push.channel,
            state: push.state,
            reason: push.reason,
            time: timestampFromMs(push.timeMs),
            attempts: push.attempts,
            providerId: push.providerId,
          },
        ]
      : [];
    return at === undefined
      ? { ksid, state: DeliveryState.QUEUED, pushes: pushList }
      : { ksid, state: DeliveryState.DELIVERED, deliveredTime: timestampFromMs(at), pushes: pushList };
  };
  const subscribers = record.ksids.map(subscriber);
  if (record.broadcast && (delivered.size > 0 || pushes.size > 0)) {
    const targeted = new Set(record.ksids);
    const others = [...delivered].filter(([k]) => !targeted.has(k));
    others.sort(([ka, a], [kb, b]) => a - b || (ka < kb ? -1 : ka > kb ? 1 : 0));
    for (const [k] of others) {
      targeted.add(k);
      subscribers.push(subscriber(k));
    }
    // Reached by a device push only: after the watcher deliveries, in ksid order.
    const pushedOnly = [...pushes.keys()].filter((k) => !targeted.has(k)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    for (const k of pushedOnly) subscribers.push(subscriber(k));
  }
  return create(MessageStatusSchema, {
    msgId: record.msgId,
    appId: record.appId,
    time: copyTimestamp(record.time),
    broadcast: record.broadcast,
    subscribers,
  });
}
