import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { copyTimestamp } from "../timestamp.js";
import { DeliveryState, MessageStatusSchema, type MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { MessageRecord } from "./status-store.js";

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
export function messageStatusOf(record: RecordedMessage, delivered: ReadonlyMap<string, number>): MessageStatus {
  const subscriber = (ksid: string) => {
    const at = delivered.get(ksid);
    return at === undefined
      ? { ksid, state: DeliveryState.QUEUED }
      : { ksid, state: DeliveryState.DELIVERED, deliveredTime: timestampFromMs(at) };
  };
  const subscribers = record.ksids.map(subscriber);
  if (record.broadcast && delivered.size > 0) {
    const targeted = new Set(record.ksids);
    const others = [...delivered].filter(([k]) => !targeted.has(k));
    others.sort(([ka, a], [kb, b]) => a - b || (ka < kb ? -1 : ka > kb ? 1 : 0));
    for (const [k] of others) subscribers.push(subscriber(k));
  }
  return create(MessageStatusSchema, {
    msgId: record.msgId,
    appId: record.appId,
    time: copyTimestamp(record.time),
    broadcast: record.broadcast,
    subscribers,
  });
}
