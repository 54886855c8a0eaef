import type { MessageStatus } from "../gen/herald/v1/hub_pb.js";
import type { MessageRecord, PushState, StatusStore } from "./status-store.js";
import type { StoreConfig } from "./store-config.js";
import { compareMsgIds, messageStatusOf, type RecordedMessage } from "./message-status.js";
import { timestamp } from "../timestamp.js";

/**
 * One message of a request. Every send keeps one, for as long as its status is kept (up to
 * `messageStatusMax` request ids), so it holds as few objects as it can: each one kept is work for
 * every collection. Its targets are a string when there is one (nearly always), the time two
 * numbers, not a Timestamp with a bigint. Measured: the retained statuses were 10-15% of a send's CPU
 * (in GC) when they took four more objects each.
 */
interface MessageSlot {
  msgId: string;
  /** False while a delivery mark has raced ahead of the record. */
  recorded: boolean;
  appId: string;
  /** No target (""), one (its ksid), or several (a copy of the list). */
  ksids: string | readonly string[];
  broadcast: boolean;
  seconds: number;
  nanos: number;
  /** ksid → delivery time (ms), made at the first mark. */
  delivered: Map<string, number> | undefined;
  /** ksid → device push state, made at the first push mark. */
  pushes: Map<string, PushState> | undefined;
}

/**
 * The delivery status of one request id: nearly always one message, which is the entry itself (one
 * object a send); further ones in `more`. Its expiry is kept apart, in the store's list of expiries.
 */
interface StatusEntry extends MessageSlot {
  requestId: string;
  /** Further messages, in arrival order; indexed by msg id once there are a few. */
  more: MessageSlot[] | undefined;
  byMsgId: Map<string, MessageSlot> | undefined;
}

/** A message not recorded yet, as an entry: further messages of a request take the same shape (one shape for all). */
const emptyEntry = (requestId: string, msgId: string): StatusEntry => ({
  msgId,
  recorded: false,
  appId: "",
  ksids: "",
  broadcast: false,
  seconds: 0,
  nanos: 0,
  delivered: undefined,
  pushes: undefined,
  requestId,
  more: undefined,
  byMsgId: undefined,
});
const SLOTS_BEFORE_INDEX = 8;
const NONE_DELIVERED: ReadonlyMap<string, number> = new Map();

/** A message's targets as kept, as a new list. */
const targetsOf = (ksids: string | readonly string[]): string[] => (typeof ksids === "string" ? (ksids === "" ? [] : [ksids]) : [...ksids]);

/** Delivery status in this process, bounded by `messageStatusMax` request ids and the TTL. */
export class MemoryStatusStore implements StatusStore {
  private readonly statuses = new Map<string, StatusEntry>();
  /**
   * Entries in creation order, hence expiry order (the TTL is never extended): eviction and expiry
   * take from the front. Not the Map's own order: V8 leaves a hole for every deleted key, and
   * iterating from the front would walk every hole, which made each send O(max) once full.
   */
  private statusOrder: StatusEntry[] = [];
  /**
   * When each entry of statusOrder expires (ms), at the same index: a list of numbers is stored
   * unboxed, where a number field of each entry would be one more object (not a small integer).
   */
  private statusExpiry: number[] = [];
  private statusHead = 0;

  constructor(private readonly options: Pick<StoreConfig, "messageStatusTtlMs" | "messageStatusMax">) {}

  async recordMessage(record: MessageRecord): Promise<void> {
    const slot = this.message(record.requestId, record.msgId);
    slot.recorded = true;
    slot.appId = record.appId;
    const n = record.ksids.length;
    // A ksid is never "" (ids are checked): "" stands for none.
    slot.ksids = n === 0 ? "" : n === 1 ? record.ksids[0]! : record.ksids.slice();
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
    const entry = this.statuses.get(requestId); // expire() left only live ones
    if (!entry) return undefined;
    const out: MessageStatus[] = [];
    for (const m of [entry as MessageSlot, ...(entry.more ?? [])].sort((a, b) => compareMsgIds(a.msgId, b.msgId))) {
      if (!m.recorded) continue;
      const time = timestamp(BigInt(m.seconds), m.nanos);
      const record: RecordedMessage = { msgId: m.msgId, appId: m.appId, ksids: targetsOf(m.ksids), broadcast: m.broadcast, time };
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
    const slot = entry.msgId === msgId ? entry : (entry.byMsgId?.get(msgId) ?? entry.more?.find((m) => m.msgId === msgId));
    return new Map([...(slot?.pushes ?? [])].map(([k, v]) => [k, { ...v }]));
  }

  /** The message's slot, creating the request's entry (with its TTL) if needed. */
  private message(requestId: string, msgId: string): MessageSlot {
    this.expire();
    let entry = this.statuses.get(requestId);
    if (!entry) {
      entry = emptyEntry(requestId, msgId);
      this.statuses.set(requestId, entry);
      this.statusOrder.push(entry);
      this.statusExpiry.push(Date.now() + this.options.messageStatusTtlMs);
      while (this.statuses.size > this.options.messageStatusMax) this.dropOldest();
      return entry;
    }
    if (entry.msgId === msgId) return entry;
    let slot = entry.byMsgId ? entry.byMsgId.get(msgId) : entry.more?.find((m) => m.msgId === msgId);
    if (!slot) {
      slot = emptyEntry(requestId, msgId);
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
    while (this.statusHead < this.statusOrder.length && this.statusExpiry[this.statusHead]! <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const entry = this.statusOrder[this.statusHead];
    if (!entry) return;
    this.statusOrder[this.statusHead++] = undefined as never; // let it go now, the slot at compaction
    this.statuses.delete(entry.requestId); // the head is the live entry of its id: ids come back as new entries
    // Compact once the dropped slots outnumber the held ones: amortised O(1).
    if (this.statusHead > 1024 && this.statusHead * 2 > this.statusOrder.length) {
      this.statusOrder = this.statusOrder.slice(this.statusHead);
      this.statusExpiry = this.statusExpiry.slice(this.statusHead);
      this.statusHead = 0;
    }
  }
}
