import type { Redis } from "ioredis";
import { TrackedCache } from "../redis/tracked-cache.js";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  AppSchema,
  EventDefinitionSchema,
  SubscriberSchema,
  type App,
  type EventDefinition,
  type Subscriber,
} from "../gen/herald/v1/registry_pb.js";
import type { SubscriberRef } from "../gen/herald/v1/event_pb.js";
import { EventHandlerSchema, type EventHandler } from "../gen/herald/v1/handler_pb.js";
import { MessageStatusSchema, type MessageStatus } from "../gen/herald/v1/hub_pb.js";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  StoreUnavailableError,
  type MessageRecord,
  type MessageStatusOptions,
  type Resolved,
  type Store,
  type SubscriberInput,
} from "./store.js";
import { compareMsgIds, messageStatusOf, type RecordedMessage } from "./message-status.js";
import { encodeStatusRecord } from "./status-record.js";
import { defaultOptions } from "../config.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  logger: Logger;
  /** Default: defaultOptions.messageStatusTtlMs. */
  messageStatusTtlMs?: MessageStatusOptions["messageStatusTtlMs"];
  /** Registry values kept near (see TrackedCache); 0 reads Redis every time. Default: defaultOptions.registryCacheMax. */
  registryCacheMax?: number;
}

/**
 * Claims a ksid for app + device + ufid: the existing one, or the candidate (forced: the candidate
 * replaces the existing one) and the ksid it replaced, if any. Touches keys of one app only, so it runs on Redis Cluster too.
 * KEYS: by-key hash, subs hash, device set, ufid set. ARGV: composite key, candidate, force.
 */
const CLAIM_SCRIPT = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and (ARGV[3] == '0' or existing == ARGV[2]) then return {existing, ''} end
if existing then
  redis.call('HDEL', KEYS[2], existing)
  redis.call('SREM', KEYS[3], existing)
  redis.call('SREM', KEYS[4], existing)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {ARGV[2], existing or ''}
`;

/**
 * Status writes, any number in one call: each writes a field of a request's status hash (HSET for a
 * record, HSETNX for a delivery: the first time wins), and gives the hash a TTL unless it has one. A
 * delivery may be marked before its message is recorded, so either write may be the one that creates
 * the key: both set the TTL, and never extend it.
 * KEYS: status hashes. ARGV: ttl ms, then per key: field, value, "1" for HSETNX.
 *
 * Its keys are of different requests, so of different slots: on Redis Cluster the batch would have
 * to be split per slot (like the bus's global msgid counter, see redis-bus.ts).
 */
const STATUS_SCRIPT = `
for i, key in ipairs(KEYS) do
  local j = i * 3 - 1
  if ARGV[j + 2] == '1' then
    redis.call('HSETNX', key, ARGV[j], ARGV[j + 1])
  else
    redis.call('HSET', key, ARGV[j], ARGV[j + 1])
  end
  redis.call('PEXPIRE', key, ARGV[1], 'NX')
end
`;

/** Most status writes sent in one script call. */
const STATUS_BATCH_MAX = 256;

interface StatusWrite {
  key: string;
  field: string;
  value: Buffer | string;
  nx: boolean;
  done: { resolve: () => void; reject: (err: unknown) => void };
}

/*
 * Event handlers of app A: P{A}:handlers (hash id → EventHandler), P{A}:handler-revs (id → its
 * revision, for compare-and-set without decoding protobuf in Lua), P{A}:handler-cursors (id →
 * offset). Each script touches one app's keys only.
 */

/** KEYS: handlers, revs, cursors. ARGV: id, value, revision, cursor, max. Returns 1 if created. */
const HANDLER_CREATE_SCRIPT = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
return 1
`;

/** KEYS: handlers, revs. ARGV: id, value, revision, expected previous revision. Returns 1 if written. */
const HANDLER_REPLACE_SCRIPT = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`;

/** KEYS: handlers, revs, cursors. ARGV: id. Returns the value deleted, or false. */
const HANDLER_DELETE_SCRIPT = `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return value
`;

/** KEYS: handlers, cursors. ARGV: id, offset. Moves the cursor forward only, if the handler exists. */
const HANDLER_CURSOR_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
`;

type Commands = Redis & {
  heraldHandlerCreate(handlers: string, revs: string, cursors: string, id: string, value: Buffer, revision: string, cursor: string, max: number): Promise<number>;
  heraldHandlerReplace(handlers: string, revs: string, id: string, value: Buffer, revision: string, expected: string): Promise<number>;
  heraldHandlerDeleteBuffer(handlers: string, revs: string, cursors: string, id: string): Promise<Buffer | null>;
  heraldHandlerCursor(handlers: string, cursors: string, id: string, offset: string): Promise<number>;
  /** Dynamic keys: the number of keys first. */
  heraldStatus(...args: Array<string | number | Buffer>): Promise<unknown>;
  heraldClaim(byKey: string, subs: string, device: string, ufid: string, composite: string, candidate: string, force: string): Promise<[ksid: string, replaced: string]>;
};

const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * The registry in Redis, values as protobuf binary. Keys are tagged per app ({app}); what must be
 * global (app list, event definitions by id, ksid → app, ksid counter) are single keys.
 *
 * Delivery status lives in one hash per request id, `status:{<requestId>}` (tagged by the id, so
 * each call touches one key, one round trip): field `m:<msgId>` holds the message record (a
 * MessageStatus with its targets QUEUED), field `d:<msgId>:<ksid>` the delivery time in ms. The
 * hash expires `messageStatusTtlMs` after its first write. The status writes of one tick go to Redis
 * as one script call.
 *
 * What SendEvent reads on every call (the app, the event definition, which ksids/devices/users
 * exist) goes through a near cache kept true by Redis key tracking (TrackedCache): a change made
 * anywhere, even by hand in Redis, is seen as soon as Redis's invalidation arrives; this process's
 * own writes at once.
 */
export class RedisStore implements Store {
  private statusBatch: StatusWrite[] | undefined;

  private constructor(
    private readonly options: RedisStoreOptions,
    private readonly redis: Commands,
    private readonly cache: TrackedCache | undefined,
  ) {}

  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const redis = connectRedis(
      {
        url: options.url,
        role: "store",
        logger: options.logger,
        commandTimeoutMs: options.commandTimeoutMs,
        maxReconnectDelayMs: options.maxReconnectDelayMs,
      },
      { enableAutoPipelining: true },
    ) as Commands;
    redis.defineCommand("heraldClaim", { numberOfKeys: 4, lua: CLAIM_SCRIPT });
    redis.defineCommand("heraldStatus", { lua: STATUS_SCRIPT });
    redis.defineCommand("heraldHandlerCreate", { numberOfKeys: 3, lua: HANDLER_CREATE_SCRIPT });
    redis.defineCommand("heraldHandlerReplace", { numberOfKeys: 2, lua: HANDLER_REPLACE_SCRIPT });
    redis.defineCommand("heraldHandlerDelete", { numberOfKeys: 3, lua: HANDLER_DELETE_SCRIPT });
    redis.defineCommand("heraldHandlerCursor", { numberOfKeys: 2, lua: HANDLER_CURSOR_SCRIPT });
    let cache: TrackedCache | undefined;
    try {
      await ready(redis);
      const maxEntries = options.registryCacheMax ?? defaultOptions.registryCacheMax;
      if (maxEntries > 0) cache = await TrackedCache.connect({ ...options, role: "store", maxEntries });
    } catch (err) {
      redis.disconnect();
      throw new StoreUnavailableError(`cannot connect to Redis: ${String(err)}`);
    }
    return new RedisStore(options, redis, cache);
  }

  private get p(): string {
    return this.options.keyPrefix;
  }
  private app(appId: string, what: string): string {
    return `${this.p}{${appId}}:${what}`;
  }
  private device(appId: string, deviceId: string): string {
    return this.app(appId, `by-device:${deviceId}`);
  }
  private ufid(appId: string, ufid: string): string {
    return this.app(appId, `by-ufid:${ufid}`);
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    return f().catch((err: unknown) => {
      if (isUnavailable(err)) throw new StoreUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    });
  }

  private decode<D extends DescMessage>(schema: D, b: Buffer | null | undefined): MessageShape<D> | undefined {
    return b ? fromBinary(schema, bytes(b)) : undefined;
  }

  /** Decoded and frozen, as cached values are shared (apps and events are flat messages). */
  private frozen<D extends DescMessage>(schema: D, b: Buffer | null): MessageShape<D> | undefined {
    return b ? (Object.freeze(fromBinary(schema, bytes(b))) as MessageShape<D>) : undefined;
  }

  /** A registry read through the near cache, if there is one. */
  private cached<T>(key: string, field: string, fetch: (redis: Redis) => Promise<T>): Promise<T> {
    return this.call(() => (this.cache ? this.cache.read(key, field, fetch) : fetch(this.redis)));
  }

  /** A registry write; once it is answered, what the cache holds of its keys (null: all) is dropped. */
  private async wrote<T>(keys: readonly string[] | null, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.cache?.invalidate(keys);
    }
  }

  upsertApp(app: App): Promise<App> {
    const key = this.app(app.id, "app");
    return this.call(() =>
      this.wrote([key], async () => {
        await this.redis.multi().set(key, buf(toBinary(AppSchema, app))).sadd(`${this.p}apps`, app.id).exec();
        return create(AppSchema, app);
      }),
    );
  }

  getApp(id: string): Promise<App | undefined> {
    const key = this.app(id, "app");
    return this.cached(key, "", async (r) => this.frozen(AppSchema, await r.getBuffer(key)));
  }

  listApps(): Promise<App[]> {
    return this.call(async () => {
      const ids = (await this.redis.smembers(`${this.p}apps`)).sort();
      const values = await Promise.all(ids.map((id) => this.redis.getBuffer(this.app(id, "app"))));
      return values.flatMap((v) => (v ? [fromBinary(AppSchema, bytes(v))] : []));
    });
  }

  deleteApp(id: string): Promise<boolean> {
    return this.call(() => this.wrote(null, async () => {
      if (!(await this.redis.exists(this.app(id, "app")))) return false;
      const [eventIds, subs] = await Promise.all([
        this.redis.smembers(this.app(id, "events")),
        this.redis.hvalsBuffer(this.app(id, "subs")),
      ]);
      const decoded = subs.map((s) => fromBinary(SubscriberSchema, bytes(s)));
      const tx = this.redis.multi();
      tx.del(
        this.app(id, "app"),
        this.app(id, "events"),
        this.app(id, "subs"),
        this.app(id, "by-key"),
        ...decoded.flatMap((s) => [this.device(id, s.deviceId), this.ufid(id, s.ufid)]),
      );
      tx.srem(`${this.p}apps`, id);
      if (eventIds.length > 0) tx.hdel(`${this.p}events`, ...eventIds);
      if (decoded.length > 0) tx.hdel(`${this.p}ksid-index`, ...decoded.map((s) => s.ksid));
      await tx.exec();
      return true;
    }));
  }

  // Event ids are global, and SendEvent looks events up by id alone on every call: the definitions
  // live in one global hash (one HGET), with a per-app set of ids for listing.
  upsertEvent(event: EventDefinition): Promise<EventDefinition> {
    return this.call(() => this.wrote([`${this.p}events`], async () => {
      const previous = await this.getEvent(event.id);
      const tx = this.redis.multi();
      if (previous && previous.appId !== event.appId) tx.srem(this.app(previous.appId, "events"), event.id);
      tx.sadd(this.app(event.appId, "events"), event.id);
      tx.hset(`${this.p}events`, event.id, buf(toBinary(EventDefinitionSchema, event)));
      await tx.exec();
      return create(EventDefinitionSchema, event);
    }));
  }

  getEvent(id: string): Promise<EventDefinition | undefined> {
    const key = `${this.p}events`;
    return this.cached(key, id, async (r) => this.frozen(EventDefinitionSchema, await r.hgetBuffer(key, id)));
  }

  listEvents(appId: string): Promise<EventDefinition[]> {
    return this.call(async () => {
      const ids = await this.redis.smembers(this.app(appId, "events"));
      if (ids.length === 0) return [];
      const values = await this.redis.hmgetBuffer(`${this.p}events`, ...ids);
      return values
        .flatMap((v) => (v ? [fromBinary(EventDefinitionSchema, bytes(v))] : []))
        .sort((a, b) => a.id.localeCompare(b.id));
    });
  }

  deleteEvent(id: string): Promise<boolean> {
    return this.call(() => this.wrote([`${this.p}events`], async () => {
      const event = await this.getEvent(id);
      if (!event) return false;
      await this.redis.multi().srem(this.app(event.appId, "events"), id).hdel(`${this.p}events`, id).exec();
      return true;
    }));
  }

  subscribe(input: SubscriberInput): Promise<Subscriber> {
    const { appId } = input;
    const keys = [this.app(appId, "subs"), this.device(appId, input.deviceId), this.ufid(appId, input.ufid)];
    return this.call(() => this.wrote(keys, async () => {
      const candidate = input.ksid ?? (await this.freshKsid());
      const composite = `${input.deviceId}\u0000${input.ufid}`;
      const [ksid, replaced] = await this.redis.heraldClaim(
        this.app(appId, "by-key"),
        this.app(appId, "subs"),
        this.device(appId, input.deviceId),
        this.ufid(appId, input.ufid),
        composite,
        candidate,
        input.ksid !== undefined ? "1" : "0",
      );
      const previous = this.decode(SubscriberSchema, await this.redis.hgetBuffer(this.app(appId, "subs"), ksid));
      const sub = create(SubscriberSchema, {
        ksid,
        appId,
        deviceId: input.deviceId,
        ufid: input.ufid,
        osType: input.osType,
        sid: input.sid ?? previous?.sid ?? "",
        active: true,
      });
      const tx = this.redis.multi().hset(this.app(appId, "subs"), ksid, buf(toBinary(SubscriberSchema, sub)));
      if (input.deviceId) tx.sadd(this.device(appId, input.deviceId), ksid);
      if (input.ufid) tx.sadd(this.ufid(appId, input.ufid), ksid);
      await tx.exec();
      await this.redis.hset(`${this.p}ksid-index`, ksid, appId);
      if (replaced) await this.redis.hdel(`${this.p}ksid-index`, replaced);
      return sub;
    }));
  }

  /** The next counter value that no subscriber holds (seeds may have set ksids explicitly). */
  private async freshKsid(): Promise<string> {
    for (;;) {
      const ksid = String(await this.redis.incr(`${this.p}ksid-seq`));
      if (!(await this.redis.hexists(`${this.p}ksid-index`, ksid))) return ksid;
    }
  }

  unsubscribe(ksid: string): Promise<boolean> {
    return this.call(async () => {
      const sub = await this.getSubscriber(ksid);
      if (!sub) return false;
      const a = sub.appId;
      await this.wrote([this.app(a, "subs"), this.device(a, sub.deviceId), this.ufid(a, sub.ufid)], () =>
        this.redis
          .multi()
          .hdel(this.app(a, "subs"), ksid)
          .hdel(this.app(a, "by-key"), `${sub.deviceId}\u0000${sub.ufid}`)
          .srem(this.device(a, sub.deviceId), ksid)
          .srem(this.ufid(a, sub.ufid), ksid)
          .exec(),
      );
      await this.redis.hdel(`${this.p}ksid-index`, ksid);
      return true;
    });
  }

  getSubscriber(ksid: string): Promise<Subscriber | undefined> {
    return this.call(async () => {
      const appId = await this.redis.hget(`${this.p}ksid-index`, ksid);
      if (appId === null) return undefined;
      return this.decode(SubscriberSchema, await this.redis.hgetBuffer(this.app(appId, "subs"), ksid));
    });
  }

  listSubscribers(appId: string): Promise<Subscriber[]> {
    return this.call(async () => {
      const values = await this.redis.hvalsBuffer(this.app(appId, "subs"));
      return values.map((v) => fromBinary(SubscriberSchema, bytes(v))).sort((a, b) => a.ksid.localeCompare(b.ksid, "en", { numeric: true }));
    });
  }

  /**
   * On the path of every SendEvent that names subscribers: through the near cache, and on a miss one
   * round trip for any number of references (auto-pipelined): one HMGET for the missing ksids, one
   * SMEMBERS per device or user.
   */
  resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved> {
    return this.call(async () => {
      const ksidRefs = refs.flatMap((r) => (r.ref.case === "ksid" ? [r.ref.value] : []));
      const subs = this.app(appId, "subs");
      const exist = async (r: Redis, ksids: readonly string[]) => (await r.hmgetBuffer(subs, ...ksids)).map((v) => v !== null);
      const members = (key: string) => this.cached(key, "", async (r) => Object.freeze(await r.smembers(key)));
      const [known, sets] = await Promise.all([
        ksidRefs.length === 0 ? [] : this.cache ? this.cache.readFields(subs, ksidRefs, exist) : exist(this.redis, ksidRefs),
        Promise.all(
          refs.map((r) =>
            r.ref.case === "deviceId" ? members(this.device(appId, r.ref.value)) : r.ref.case === "ufid" ? members(this.ufid(appId, r.ref.value)) : undefined,
          ),
        ),
      ]);
      const ksids = new Set<string>();
      const invalid: SubscriberRef[] = [];
      let k = 0;
      refs.forEach((ref, i) => {
        const found = ref.ref.case === "ksid" ? (known[k++] ? [ref.ref.value] : []) : [...(sets[i] ?? [])].sort();
        if (found.length === 0) invalid.push(ref);
        for (const x of found) ksids.add(x);
      });
      return { ksids: [...ksids], invalid };
    });
  }

  private status(requestId: string): string {
    return `${this.p}status:{${requestId}}`;
  }
  private get statusTtlMs(): number {
    return this.options.messageStatusTtlMs ?? defaultOptions.messageStatusTtlMs;
  }

  recordMessage(record: MessageRecord): Promise<void> {
    return this.statusWrite(this.status(record.requestId), `m:${record.msgId}`, buf(encodeStatusRecord(record)), false);
  }

  markDelivered(requestId: string, msgId: string, ksid: string, timeMs: number): Promise<void> {
    return this.statusWrite(this.status(requestId), `d:${msgId}:${ksid}`, String(timeMs), true);
  }

  /**
   * Queues a status write for the batch of this tick. Every send makes one, and each Redis command
   * costs more in the client than in Redis: one script call for all of them is much cheaper.
   */
  private statusWrite(key: string, field: string, value: Buffer | string, nx: boolean): Promise<void> {
    return this.call(
      () =>
        new Promise<void>((resolve, reject) => {
          let batch = this.statusBatch;
          if (!batch) {
            this.statusBatch = batch = [];
            process.nextTick(() => this.flushStatus(batch!));
          }
          batch.push({ key, field, value, nx, done: { resolve, reject } });
          if (batch.length >= STATUS_BATCH_MAX) this.flushStatus(batch);
        }),
    );
  }

  private flushStatus(batch: StatusWrite[]): void {
    if (this.statusBatch === batch) this.statusBatch = undefined;
    if (batch.length === 0) return; // sent already, when it filled up
    const writes = batch.splice(0);
    const args: Array<string | number | Buffer> = [writes.length];
    for (const w of writes) args.push(w.key);
    args.push(this.statusTtlMs);
    for (const w of writes) args.push(w.field, w.value, w.nx ? "1" : "0");
    this.redis.heraldStatus(...args).then(
      () => writes.forEach((w) => w.done.resolve()),
      (err: unknown) => writes.forEach((w) => w.done.reject(err)),
    );
  }

  messageStatus(requestId: string): Promise<MessageStatus[] | undefined> {
    return this.call(async () => {
      const fields = await this.redis.hgetallBuffer(this.status(requestId));
      const records = new Map<string, RecordedMessage>();
      const delivered = new Map<string, Map<string, number>>();
      for (const [field, value] of Object.entries(fields)) {
        if (field.startsWith("m:")) {
          const m = fromBinary(MessageStatusSchema, bytes(value));
          records.set(field.slice(2), {
            msgId: field.slice(2),
            appId: m.appId,
            time: m.time ?? create(TimestampSchema),
            broadcast: m.broadcast,
            ksids: m.subscribers.map((s) => s.ksid),
          });
        } else if (field.startsWith("d:")) {
          const colon = field.indexOf(":", 2); // msg ids are numeric: the first colon ends it
          const msgId = field.slice(2, colon);
          let marks = delivered.get(msgId);
          if (!marks) delivered.set(msgId, (marks = new Map()));
          marks.set(field.slice(colon + 1), Number(value.toString()));
        }
      }
      if (records.size === 0) return undefined;
      return [...records.values()]
        .sort((a, b) => compareMsgIds(a.msgId, b.msgId))
        .map((r) => messageStatusOf(r, delivered.get(r.msgId) ?? new Map()));
    });
  }

  private handlerKeys(appId: string) {
    return [this.app(appId, "handlers"), this.app(appId, "handler-revs"), this.app(appId, "handler-cursors")] as const;
  }

  createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined> {
    return this.call(async () => {
      const [h, r, c] = this.handlerKeys(handler.appId);
      const value = buf(toBinary(EventHandlerSchema, handler));
      const created = await this.redis.heraldHandlerCreate(h, r, c, handler.id, value, String(handler.revision), String(cursor), maxPerApp);
      return created === 1 ? create(EventHandlerSchema, handler) : undefined;
    });
  }

  getHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    return this.call(async () => this.decode(EventHandlerSchema, await this.redis.hgetBuffer(this.app(appId, "handlers"), id)));
  }

  listHandlers(appId: string): Promise<EventHandler[]> {
    return this.call(async () => {
      const values = await this.redis.hvalsBuffer(this.app(appId, "handlers"));
      const created = (x: EventHandler) => (x.created ? Number(x.created.seconds) * 1e9 + x.created.nanos : 0);
      return values
        .map((v) => fromBinary(EventHandlerSchema, bytes(v)))
        .sort((a, b) => created(a) - created(b) || a.id.localeCompare(b.id));
    });
  }

  replaceHandler(handler: EventHandler): Promise<boolean> {
    return this.call(async () => {
      const [h, r] = this.handlerKeys(handler.appId);
      const value = buf(toBinary(EventHandlerSchema, handler));
      return (await this.redis.heraldHandlerReplace(h, r, handler.id, value, String(handler.revision), String(handler.revision - 1n))) === 1;
    });
  }

  deleteHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    return this.call(async () => this.decode(EventHandlerSchema, await this.redis.heraldHandlerDeleteBuffer(...this.handlerKeys(appId), id)));
  }

  advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void> {
    return this.call(async () => {
      await this.redis.heraldHandlerCursor(this.app(appId, "handlers"), this.app(appId, "handler-cursors"), id, String(offset));
    });
  }

  handlerCursor(appId: string, id: string): Promise<bigint> {
    return this.call(async () => BigInt((await this.redis.hget(this.app(appId, "handler-cursors"), id)) ?? "0"));
  }

  async close(): Promise<void> {
    await this.cache?.close();
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}
