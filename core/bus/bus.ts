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
 * - `publishBatch` publishes several envelopes of one app in one atomic step: they get consecutive
 *   msg ids and consecutive offsets, and are all appended and delivered, in order, with nothing of
 *   another publish between them, or none is. `publish` is a batch of one.
 * - With `idempotency`, the decision is part of that step: the first batch under a key (per app) is
 *   published and remembered for `windowMs` with its fingerprint and `memo`; a batch under the same
 *   key within the window, from any instance, publishes nothing and answers the first one's ids and
 *   memo with `replayed: true`, or rejects with `IdempotencyKeyReused` if its fingerprint differs.
 *   After the window the key is forgotten (a repeat publishes again). An empty batch under a key
 *   only looks it up: it answers (or refuses) a repeat, and publishes and keeps nothing otherwise.
 */
export interface Bus {
  publish(appId: string, envelope: Uint8Array): Promise<Published>;
  publishBatch(appId: string, envelopes: readonly Uint8Array[], idempotency?: Idempotency): Promise<BatchPublished>;
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

/** What makes a batch idempotent: see `Bus.publishBatch`. */
export interface Idempotency {
  /** The caller's key, any string (the bus hashes it before it names anything). */
  key: string;
  /** Identifies the request: a repeat with another fingerprint is refused. */
  fingerprint: string;
  /** How long the key is remembered (ms, ≥ 1). */
  windowMs: number;
  /** Opaque bytes kept with the key and given back to a repeat (the rest of the caller's reply). */
  memo?: Uint8Array;
}

export interface BatchPublished {
  /** The ids of each envelope in order: consecutive msg ids and offsets. */
  ids: Array<{ msgId: string; offset: bigint }>;
  /** The stored and delivered bytes of each envelope; empty when replayed. */
  messages: Uint8Array[];
  /** True when nothing was published: `ids` and `memo` are those of the first batch under the key. */
  replayed: boolean;
  /** The memo kept with the key (empty without idempotency). */
  memo: Uint8Array;
}

/** A batch under an idempotency key already used, within its window, by a different request. */
export class IdempotencyKeyReused extends Error {
  constructor(readonly appId: string) {
    super(`the idempotency key was already used for a different request of app "${appId}"`);
    this.name = "IdempotencyKeyReused";
  }
}

/** Most envelopes in one batch, whatever the caller's limit: bounds one Lua call's size and run time. */
export const MAX_BATCH = 10_000;

/** Refuses what no implementation accepts: an empty batch without key, an oversized one, a window under 1 ms. */
export function checkBatch(envelopes: readonly Uint8Array[], idempotency: Idempotency | undefined): void {
  if ((envelopes.length === 0 && !idempotency) || envelopes.length > MAX_BATCH) {
    throw new RangeError(`a batch holds 1 to ${MAX_BATCH} envelopes (0 with a key), got ${envelopes.length}`);
  }
  if (idempotency && !(Number.isSafeInteger(idempotency.windowMs) && idempotency.windowMs >= 1)) {
    throw new RangeError(`idempotency windowMs must be a positive integer, got ${idempotency.windowMs}`);
  }
}
