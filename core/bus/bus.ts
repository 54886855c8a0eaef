/**
 * A Bus carries every published message to every Herald instance sharing it, and keeps a bounded
 * history per app so that a watcher can catch up.
 *
 * Guarantees (test/suites/bus-suite.ts checks them against every implementation):
 * - `publish` assigns `msgId` (unique and increasing across every instance on the bus) and `offset`
 *   (per app: 1, 2, 3, … with no gap), appends the message to the app's history and delivers it to
 *   the app's subscribers, atomically: history order is delivery order.
 * - The bytes appended and delivered are the envelope given to `publish` followed by the encoding of
 *   `Event.msg_id` (field 1) and `Event.offset` (field 2); protobuf merges repeated fields, so they
 *   decode as an `Event` carrying both.
 * - Each subscriber of an app receives that app's messages in offset order, each once, while the bus
 *   is connected. Across a disconnection it may miss some; it sees the gap in the offsets and fills it
 *   with `history`. `onResync` listeners are called after every reconnection for that purpose.
 * - `subscribe` is ref-counted: one underlying subscription per app per process, however many
 *   listeners; the returned function removes this listener only.
 * - `history` returns, in order, at most `limit` messages with offset > `after`, together with the
 *   oldest offset still held (0 if none) and the latest offset assigned (0 if none).
 * - When the backing service is unreachable, `publish` and `history` reject with an `UnavailableError`
 *   promptly instead of waiting for it to come back.
 */
export interface Bus {
  publish(appId: string, envelope: Uint8Array): Promise<Published>;
  subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>>;
  history(appId: string, after: bigint, limit: number): Promise<History>;
  /** Called after the bus reconnected: subscribers may have missed messages. */
  onResync(listener: () => void): void;
  close(): Promise<void>;
}

export type BusListener = (message: Uint8Array) => void;

export interface Published {
  msgId: string;
  offset: bigint;
  /** The stored and delivered bytes: envelope + msg_id + offset. */
  message: Uint8Array;
}

export interface History {
  messages: Uint8Array[];
  /** Oldest offset still held, 0 when the history is empty. */
  earliest: bigint;
  /** Latest offset assigned in this app, 0 when nothing was ever published. */
  latest: bigint;
}
