import type { MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { MessageRecord, PushState, StatusStore } from "./status-store.js";
import type { StoreConfig } from "./store-config.js";
import { compareMsgIds, messageStatusOf, type RecordedMessage } from "./message-status.js";
import { timestamp } from "../timestamp.js";

/**
 * One message of a request. Every send keeps one, for as long as its status is kept (up to
 * `messageStatusMax` request ids), so it is flat: a slot and its ksids are all the objects it
 * holds; the time is two numbers, not a Timestamp with a bigint. Measured: the retained statuses
 * were 10-15% of a send's CPU (in GC) when they took four more objects each.
 */
interface MessageSlot {
  msgId: string;
  /** False while a delivery mark has raced ahead of the record. */
  recorded: boolean;
  appId: string;
  ksids: readonly string[];
  broadcast: boolean;
  seconds: number;
  nanos: number;
  /** ksid → delivery time (ms), made at the first mark. */
  delivered: Map<string, number> | undefined;
  /** ksid → device push state, made at the first push mark. */
  pushes: Map<string, PushState> | undefined;
}

/** The delivery status of one request id: nearly always one message, kept without a list. */
interface StatusEntry {
  requestId: string;
  expiresAt: number;
  first: MessageSlot;
  /** Further messages, in arrival order; indexed by msg id once there are a few. */
  more: MessageSlot[] | undefined;
  byMsgId: Map<string, MessageSlot> | undefined;
}

const NO_KSIDS: readonly string[] = Object.freeze([]);
const emptySlot = (msgId: string): MessageSlot => ({
  msgId,
  recorded: false,
  appId: "",
  ksids: NO_KSIDS,
  broadcast: false,
  seconds: 0,
  nanos: 0,
  delivered: undefined,
  pushes: undefined,
});
const SLOTS_BEFORE_INDEX = 8;
const NONE_DELIVERED: ReadonlyMap<string, number> = new Map();

/** Delivery status in this process, bounded by `messageStatusMax` request ids and the TTL. */
export class MemoryStatusStore implements StatusStore {
  private readonly statuses = new Map<string, StatusEntry>();
  /**
   * Entries in creation order, hence expiry order (the TTL is never extended): eviction and expiry
   * take from the front. Not the Map's own order: V8 leaves a hole for every deleted key, and
   * iterating from the front would walk every hole, which made each send O(max) once full.
   */
  private statusOrder: StatusEntry[] = [];
  private statusHead = 0;

  constructor(private readonly options: Pick<StoreConfig, "messageStatusTtlMs" | "messageStatusMax">) {}

  async recordMessage(record: MessageRecord): Promise<void> {
    const slot = this.message(record.requestId, record.msgId);
    slot.recorded = true;
    slot.appId = record.appId;
    slot.ksids = record.ksids.length === 0 ? NO_KSIDS : record.ksids.slice();
    slot.broadcast = record.broadcast;
    slot.seconds = Number(record.time.seconds);
    slot.nanos = record.time.nanos;
  }

  async markDelivered(requestId: string, msgId: string, ksid: string, timeMs: number): Promise<void> {
    const slot = this.message(requestId, msgId);
    slot.delivered ??= new Map();
    if (!slot.delivered.has(ksid)) slot.delivered.set(ksid, timeMs);
  }

  async messageStatus(requestId: string): Promise<MessageStatus[] | undefined> {
    this.expire();
    const entry = this.statuses.get(requestId);
    if (!entry || entry.expiresAt <= Date.now()) return undefined;
    const out: MessageStatus[] = [];
    for (const m of [entry.first, ...(entry.more ?? [])].sort((a, b) => compareMsgIds(a.msgId, b.msgId))) {
      if (!m.recorded) continue;
      const time = timestamp(BigInt(m.seconds), m.nanos);
      const record: RecordedMessage = { msgId: m.msgId, appId: m.appId, ksids: [...m.ksids], broadcast: m.broadcast, time };
      out.push(messageStatusOf(record, m.delivered ?? NONE_DELIVERED, m.pushes));
    }
    return out.length > 0 ? out : undefined;
  }

  async markPush(requestId: string, msgId: string, ksid: string, state: PushState): Promise<void> {
    const slot = this.message(requestId, msgId);
    slot.pushes ??= new Map();
    slot.pushes.set(ksid, { ...state });
  }

  async pushStates(requestId: string, msgId: string): Promise<Map<string, PushState>> {
    this.expire();
    const entry = this.statuses.get(requestId);
    if (!entry) return new Map();
    const slot = entry.first.msgId === msgId ? entry.first : (entry.byMsgId?.get(msgId) ?? entry.more?.find((m) => m.msgId === msgId));
    return new Map([...(slot?.pushes ?? [])].map(([k, v]) => [k, { ...v }]));
  }

  /** The message's slot, creating the request's entry (with its TTL) if needed. */
  private message(requestId: string, msgId: string) {
    this.expire();
    let entry = this.statuses.get(requestId);
    if (!entry) {
      const first = emptySlot(msgId);
      entry = { requestId, expiresAt: Date.now() + this.options.messageStatusTtlMs, first, more: undefined, byMsgId: undefined };
      this.statuses.set(requestId, entry);
      this.statusOrder.push(entry);
      while (this.statuses.size > this.options.messageStatusMax) this.dropOldest();
      return first;
    }
    if (entry.first.msgId === msgId) return entry.first;
    let slot = entry.byMsgId ? entry.byMsgId.get(msgId) : entry.more?.find((m) => m.msgId === msgId);
    if (!slot) {
      slot = emptySlot(msgId);
      const more = (entry.more ??= []);
      more.push(slot);
      if (entry.byMsgId) entry.byMsgId.set(msgId, slot);
      else if (more.length > SLOTS_BEFORE_INDEX) entry.byMsgId = new Map(more.map((m) => [m.msgId, m]));
    }
    return slot;
  }

  /** Drops expired entries; they are in expiry order, so this stops at the first live one. */
  private expire(): void {
    const now = Date.now();
    while (this.statusHead < this.statusOrder.length && this.statusOrder[this.statusHead]!.expiresAt <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const entry = this.statusOrder[this.statusHead];
    if (!entry) return;
    this.statusOrder[this.statusHead++] = undefined as never; // let it go now, the slot at compaction
    this.statuses.delete(entry.requestId); // the head is the live entry of its id: ids come back as new entries
    // Compact once the dropped slots outnumber the held ones: amortised O(1).
    if (this.statusHead > 1024 && this.statusHead * 2 > this.statusOrder.length) {
      this.statusOrder = this.statusOrder.slice(this.statusHead);
      this.statusHead = 0;
    }
  }
}
