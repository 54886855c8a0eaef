import {
  checkBatch,
  IdempotencyKeyReused,
  type BatchPublished,
  type Bus,
  type BusListener,
  type History,
  type Idempotency,
  type Published,
} from "./bus.js";
import { appendIds, type Allocate } from "./envelope.js";
import { ByteArena } from "../wire/pooled-bytes.js";
import { callListener } from "./call-listener.js";
import { UnavailableError } from "../unavailable-error.js";
import type { Logger } from "../logger.js";

export interface MemoryBusOptions {
  /** Messages kept per app: exactly the newest `historySize`. */
  historySize: number;
  /** Where a throwing listener is reported; not reported when absent. */
  logger?: Logger;
}

interface AppLog {
  /** Latest offset assigned, 0 before the first publish. */
  offset: bigint;
  /** Held messages are `messages[head..]`, oldest first; the last one has offset `offset`. */
  messages: Uint8Array[];
  head: number;
  listeners: Set<BusListener>;
  /** Where its messages' bytes are cut from (a ByteArena): they are dropped oldest first. */
  alloc: Allocate;
}

/**
 * The embedded bus: one process, one world (two MemoryBus instances share nothing).
 *
 * Delivery is synchronous: every listener has been called before `publish`'s promise is returned,
 * so delivery order is publish order is offset order. A publish made from inside a listener is
 * appended at once but delivered after the message being delivered has reached every listener, so
 * each listener still sees offsets in order. A listener sees the messages published while it was
 * subscribed; one removed during a delivery gets nothing more. A throwing (or rejecting) listener is
 * reported and skipped: it never fails `publish` nor starves the other listeners.
 *
 * Delivered and stored bytes are one and the same array: listeners must not modify it.
 */
export class MemoryBus implements Bus {
  private msgId = 0n;
  private readonly apps = new Map<string, AppLog>();
  private readonly historySize: number;
  /** Messages waiting for delivery while a delivery is in progress (re-entrant publish). */
  private readonly outbox: Array<{ message: Uint8Array; listeners: BusListener[]; log: AppLog }> = [];
  private delivering = false;
  private closed = false;
  /**
   * Idempotency records by app NUL key, in insertion order; expired ones are dropped from the front
   * on each keyed publish (with one window for all, the front is the oldest).
   */
  private readonly keys = new Map<string, { fingerprint: string; ids: BatchPublished["ids"]; memo: Uint8Array; expires: number }>();

  constructor(private readonly options: MemoryBusOptions) {
    if (!Number.isSafeInteger(options.historySize) || options.historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${options.historySize}`);
    }
    this.historySize = options.historySize;
  }

  private app(appId: string): AppLog {
    let log = this.apps.get(appId);
    if (!log) {
      const arena = new ByteArena();
      log = { offset: 0n, messages: [], head: 0, listeners: new Set(), alloc: (size) => arena.alloc(size) };
      this.apps.set(appId, log);
    }
    return log;
  }

  async publish(appId: string, envelope: Uint8Array): Promise<Published> {
    const { ids, messages } = await this.publishBatch(appId, [envelope]);
    return { ...ids[0]!, message: messages[0]! };
  }

  /** Synchronous up to its promise, like the Lua script: nothing else runs between check and publish. */
  async publishBatch(appId: string, envelopes: readonly Uint8Array[], idempotency?: Idempotency): Promise<BatchPublished> {
    this.checkOpen();
    checkBatch(envelopes, idempotency);
    const now = Date.now();
    const name = idempotency ? `${appId}\0${idempotency.key}` : "";
    if (idempotency) {
      for (const [k, r] of this.keys) {
        if (r.expires > now) break;
        this.keys.delete(k);
      }
      const known = this.keys.get(name);
      if (known && known.expires > now) {
        if (known.fingerprint !== idempotency.fingerprint) throw new IdempotencyKeyReused(appId);
        return { ids: known.ids, messages: [], replayed: true, memo: known.memo };
      }
    }
    const memo = idempotency?.memo ?? EMPTY;
    if (envelopes.length === 0) return { ids: [], messages: [], replayed: false, memo };
    const log = this.app(appId);
    const ids: BatchPublished["ids"] = [];
    const messages: Uint8Array[] = [];
    for (const envelope of envelopes) {
      const msgId = String(++this.msgId);
      const offset = ++log.offset;
      ids.push({ msgId, offset });
      messages.push(this.append(log, appendIds(envelope, msgId, offset, log.alloc)));
    }
    if (idempotency) {
      this.keys.delete(name); // an expired one: re-inserted at the back
      this.keys.set(name, { fingerprint: idempotency.fingerprint, ids, memo, expires: now + idempotency.windowMs });
    }
    if (log.listeners.size > 0) this.deliver(log, messages);
    return { ids, messages, replayed: false, memo };
  }

  private append(log: AppLog, message: Uint8Array): Uint8Array {
    log.messages.push(message);
    if (log.messages.length - log.head > this.historySize) {
      log.messages[log.head++] = EMPTY; // drop the reference now, the slot with the next compaction
      // Compact once the dropped slots outnumber the held ones: amortised O(1) a publish.
      if (log.head >= this.historySize) {
        log.messages = log.messages.slice(log.head);
        log.head = 0;
      }
    }
    return message;
  }

  /** Queues the batch whole before delivering any of it, so that a re-entrant publish comes after it. */
  private deliver(log: AppLog, messages: Uint8Array[]): void {
    const listeners = [...log.listeners];
    for (const message of messages) this.outbox.push({ log, message, listeners });
    if (this.delivering) return; // a listener is publishing: the loop below takes it in turn
    this.delivering = true;
    try {
      for (let i = 0; i < this.outbox.length; i++) {
        const next = this.outbox[i]!;
        for (const listener of next.listeners) {
          if (next.log.listeners.has(listener)) this.call(listener, next.message);
        }
      }
    } finally {
      this.outbox.length = 0;
      this.delivering = false;
    }
  }

  private call(listener: BusListener, message: Uint8Array): void {
    callListener(listener, message, this.listenerFailed);
  }

  private readonly listenerFailed = (err: unknown): void => {
    this.options.logger?.error({ err }, "bus listener failed");
  };

  async subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>> {
    this.checkOpen();
    const log = this.app(appId);
    // A wrapper per call: the same function subscribed twice is two listeners, removed one by one.
    const entry: BusListener = (m) => listener(m);
    log.listeners.add(entry);
    return async () => {
      log.listeners.delete(entry);
    };
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    this.checkOpen();
    const log = this.apps.get(appId);
    if (!log) return { messages: [], earliest: 0n, latest: 0n };
    const held = log.messages.length - log.head;
    if (held === 0) return { messages: [], earliest: 0n, latest: log.offset };
    const earliest = log.offset - BigInt(held) + 1n;
    const from = after < earliest ? earliest : after + 1n; // first offset returned
    const count = Math.max(0, Math.floor(limit));
    const messages =
      from > log.offset || count === 0
        ? []
        : log.messages.slice(log.head + Number(from - earliest), log.head + Number(from - earliest) + count);
    return { messages, earliest, latest: log.offset };
  }

  onResync(_listener: () => void): void {
    // Never disconnected: never called.
  }

  /** Removes every listener; later calls reject with UnavailableError. */
  async close(): Promise<void> {
    this.closed = true;
    for (const log of this.apps.values()) log.listeners.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("bus is closed");
  }
}

const EMPTY = new Uint8Array(0);
