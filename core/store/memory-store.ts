import { clone, create } from "@bufbuild/protobuf";
import {
  AppSchema,
  EventDefinitionSchema,
  SubscriberSchema,
  type App,
  type EventDefinition,
  type Subscriber,
} from "../gen/herald/v1/registry_pb.js";
import type { SubscriberRef } from "../gen/herald/v1/event_pb.js";
import type { MessageStatus } from "../gen/herald/v1/hub_pb.js";
import { EventHandlerSchema, type EventHandler } from "../gen/herald/v1/handler_pb.js";
import type { MessageRecord, MessageStatusOptions, Resolved, Store, SubscriberInput } from "./store.js";
import { compareMsgIds, messageStatusOf, type RecordedMessage } from "./message-status.js";
import { timestamp } from "../timestamp.js";
import { defaultOptions } from "../config.js";

export interface MemoryStoreOptions extends MessageStatusOptions {
  /** Most request ids whose status is kept; the oldest is dropped first. */
  messageStatusMax: number;
}

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
});
const SLOTS_BEFORE_INDEX = 8;
const NONE_DELIVERED: ReadonlyMap<string, number> = new Map();

/** The embedded registry: plain maps in this process; everything handed out is a copy or frozen. */
export class MemoryStore implements Store {
  private readonly apps = new Map<string, App>();
  private readonly events = new Map<string, EventDefinition>();
  private readonly subscribers = new Map<string, Subscriber>();
  private ksidSeq = 0;
  private readonly statuses = new Map<string, StatusEntry>();
  /**
   * Entries in creation order, hence expiry order (the TTL is never extended): eviction and expiry
   * take from the front. Not the Map's own order: V8 leaves a hole for every deleted key, and
   * iterating from the front would walk every hole, which made each send O(max) once full.
   */
  private statusOrder: StatusEntry[] = [];
  private statusHead = 0;
  private readonly options: MemoryStoreOptions;
  /** By app id, then handler id (insertion order is creation order). */
  private readonly handlers = new Map<string, Map<string, { handler: EventHandler; cursor: bigint }>>();

  constructor(options: Partial<MemoryStoreOptions> = {}) {
    this.options = {
      messageStatusTtlMs: options.messageStatusTtlMs ?? defaultOptions.messageStatusTtlMs,
      messageStatusMax: options.messageStatusMax ?? defaultOptions.messageStatusMax,
    };
  }

  // Apps and event definitions are read on every send: they are kept frozen (they have no nested
  // fields) and handed out as they are, where a copy per read was a tenth of a send's allocations.
  async upsertApp(app: App): Promise<App> {
    this.apps.set(app.id, Object.freeze(clone(AppSchema, app)));
    return clone(AppSchema, app);
  }

  async getApp(id: string): Promise<App | undefined> {
    return this.apps.get(id);
  }

  async listApps(): Promise<App[]> {
    return [...this.apps.values()].map((a) => clone(AppSchema, a));
  }

  async deleteApp(id: string): Promise<boolean> {
    if (!this.apps.delete(id)) return false;
    for (const [key, e] of this.events) if (e.appId === id) this.events.delete(key);
    for (const [key, s] of this.subscribers) if (s.appId === id) this.subscribers.delete(key);
    return true;
  }

  async upsertEvent(event: EventDefinition): Promise<EventDefinition> {
    this.events.set(event.id, Object.freeze(clone(EventDefinitionSchema, event)));
    return clone(EventDefinitionSchema, event);
  }

  async getEvent(id: string): Promise<EventDefinition | undefined> {
    return this.events.get(id);
  }

  async listEvents(appId: string): Promise<EventDefinition[]> {
    return [...this.events.values()].filter((e) => e.appId === appId).map((e) => clone(EventDefinitionSchema, e));
  }

  async deleteEvent(id: string): Promise<boolean> {
    return this.events.delete(id);
  }

  async subscribe(input: SubscriberInput): Promise<Subscriber> {
    let sub = [...this.subscribers.values()].find(
      (s) => s.appId === input.appId && s.deviceId === input.deviceId && s.ufid === input.ufid,
    );
    if (sub && input.ksid !== undefined && input.ksid !== sub.ksid) {
      this.subscribers.delete(sub.ksid);
      sub = undefined;
    }
    const ksid = sub?.ksid ?? input.ksid ?? this.nextKsid();
    const next = create(SubscriberSchema, {
      ksid,
      appId: input.appId,
      deviceId: input.deviceId,
      ufid: input.ufid,
      osType: input.osType,
      sid: input.sid ?? sub?.sid ?? "",
      active: true,
    });
    this.subscribers.set(ksid, next);
    return clone(SubscriberSchema, next);
  }

  private nextKsid(): string {
    let ksid: string;
    do ksid = String(++this.ksidSeq);
    while (this.subscribers.has(ksid));
    return ksid;
  }

  async unsubscribe(ksid: string): Promise<boolean> {
    return this.subscribers.delete(ksid);
  }

  async getSubscriber(ksid: string): Promise<Subscriber | undefined> {
    const s = this.subscribers.get(ksid);
    return s && clone(SubscriberSchema, s);
  }

  async listSubscribers(appId: string): Promise<Subscriber[]> {
    return [...this.subscribers.values()].filter((s) => s.appId === appId).map((s) => clone(SubscriberSchema, s));
  }

  async resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved> {
    const ksids = new Set<string>();
    const invalid: SubscriberRef[] = [];
    // Device and user lookups scan the app once, only when the request names some.
    let byDevice: Map<string, string[]> | undefined;
    let byUfid: Map<string, string[]> | undefined;
    const index = () => {
      byDevice = new Map();
      byUfid = new Map();
      for (const s of this.subscribers.values()) {
        if (s.appId !== appId || !s.active) continue;
        if (s.deviceId) byDevice.set(s.deviceId, [...(byDevice.get(s.deviceId) ?? []), s.ksid]);
        if (s.ufid) byUfid.set(s.ufid, [...(byUfid.get(s.ufid) ?? []), s.ksid]);
      }
    };
    for (const ref of refs) {
      let found: string[] = [];
      switch (ref.ref.case) {
        case "ksid": {
          const s = this.subscribers.get(ref.ref.value);
          if (s && s.appId === appId && s.active) found = [s.ksid];
          break;
        }
        case "deviceId":
          if (!byDevice) index();
          found = byDevice!.get(ref.ref.value) ?? [];
          break;
        case "ufid":
          if (!byUfid) index();
          found = byUfid!.get(ref.ref.value) ?? [];
          break;
      }
      if (found.length === 0) invalid.push(ref);
      for (const k of found) ksids.add(k);
    }
    return { ksids: [...ksids], invalid };
  }

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
      out.push(messageStatusOf(record, m.delivered ?? NONE_DELIVERED));
    }
    return out.length > 0 ? out : undefined;
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

  async createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined> {
    let app = this.handlers.get(handler.appId);
    if (!app) this.handlers.set(handler.appId, (app = new Map()));
    if (app.size >= maxPerApp || app.has(handler.id)) return undefined;
    app.set(handler.id, { handler: clone(EventHandlerSchema, handler), cursor });
    return clone(EventHandlerSchema, handler);
  }

  async getHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    const entry = this.handlers.get(appId)?.get(id);
    return entry && clone(EventHandlerSchema, entry.handler);
  }

  async listHandlers(appId: string): Promise<EventHandler[]> {
    return [...(this.handlers.get(appId)?.values() ?? [])].map((e) => clone(EventHandlerSchema, e.handler));
  }

  async replaceHandler(handler: EventHandler): Promise<boolean> {
    const entry = this.handlers.get(handler.appId)?.get(handler.id);
    if (!entry || entry.handler.revision !== handler.revision - 1n) return false;
    entry.handler = clone(EventHandlerSchema, handler);
    return true;
  }

  async deleteHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    const app = this.handlers.get(appId);
    const entry = app?.get(id);
    if (!app || !entry) return undefined;
    app.delete(id);
    if (app.size === 0) this.handlers.delete(appId);
    return entry.handler;
  }

  async advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void> {
    const entry = this.handlers.get(appId)?.get(id);
    if (entry && offset > entry.cursor) entry.cursor = offset;
  }

  async handlerCursor(appId: string, id: string): Promise<bigint> {
    return this.handlers.get(appId)?.get(id)?.cursor ?? 0n;
  }

  async close(): Promise<void> {}
}
