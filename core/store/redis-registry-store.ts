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
import type { RegistryStore, Resolved, SubscriberInput } from "./registry-store.js";
import { orUnavailable, type RedisClient } from "../redis/connect.js";
import { transaction } from "../redis/transaction.js";
import type { RedisKeys } from "../redis/keys.js";
import { defineScripts } from "../redis/scripts.js";
import type { TrackedCache } from "../redis/tracked-cache.js";
import { bytes, buf } from "../redis/buffers.js";

/**
 * The registry in Redis, values as protobuf binary. Keys are tagged per app ({app}); what must be
 * global (app list, event definitions by id, ksid → app, ksid counter) are single keys (keys.ts).
 *
 * What SendEvent reads on every call (the app, the event definition, which ksids/devices/users
 * exist) goes through a near cache kept true by Redis key tracking (TrackedCache): a change made
 * anywhere, even by hand in Redis, is seen as soon as Redis's invalidation arrives; this process's
 * own writes at once.
 */
export class RedisRegistryStore implements RegistryStore {
  private readonly scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly k: RedisKeys,
    /** Absent: every read goes to Redis. */
    private readonly cache: TrackedCache | undefined,
  ) {
    this.scripts = defineScripts(redis, ["claim-ksid"]);
  }

  private decode<D extends DescMessage>(schema: D, b: Buffer | null | undefined): MessageShape<D> | undefined {
    return b ? fromBinary(schema, bytes(b)) : undefined;
  }

  /** Decoded and frozen, as cached values are shared (apps and events are flat messages). */
  private frozen<D extends DescMessage>(schema: D, b: Buffer | null): MessageShape<D> | undefined {
    return b ? (Object.freeze(fromBinary(schema, bytes(b))) as MessageShape<D>) : undefined;
  }

  /** A registry read through the near cache, if there is one. */
  private cached<T>(key: string, field: string, fetch: (redis: RedisClient) => Promise<T>): Promise<T> {
    return orUnavailable(() => (this.cache ? this.cache.read(key, field, fetch) : fetch(this.redis)));
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
    const key = this.k.app(app.id);
    return orUnavailable(() =>
      this.wrote([key], async () => {
        await transaction(this.redis)
          .set(key, buf(toBinary(AppSchema, app)))
          .sadd(this.k.apps, app.id)
          .exec();
        return create(AppSchema, app);
      }),
    );
  }

  getApp(id: string): Promise<App | undefined> {
    const key = this.k.app(id);
    return this.cached(key, "", async (r) => this.frozen(AppSchema, await r.getBuffer(key)));
  }

  listApps(): Promise<App[]> {
    return orUnavailable(async () => {
      const ids = (await this.redis.smembers(this.k.apps)).sort();
      const values = await Promise.all(ids.map((id) => this.redis.getBuffer(this.k.app(id))));
      return values.flatMap((v) => (v ? [fromBinary(AppSchema, bytes(v))] : []));
    });
  }

  deleteApp(id: string): Promise<boolean> {
    return orUnavailable(() =>
      this.wrote(null, async () => {
        if (!(await this.redis.exists(this.k.app(id)))) return false;
        const [eventIds, subs] = await Promise.all([
          this.redis.smembers(this.k.appEvents(id)),
          this.redis.hvalsBuffer(this.k.subscribers(id)),
        ]);
        const decoded = subs.map((s) => fromBinary(SubscriberSchema, bytes(s)));
        const tx = transaction(this.redis);
        tx.del(
          this.k.app(id),
          this.k.appEvents(id),
          this.k.subscribers(id),
          this.k.subscriberByKey(id),
          ...decoded.flatMap((s) => [this.k.subscribersOfDevice(id, s.deviceId), this.k.subscribersOfUfid(id, s.ufid)]),
        );
        tx.srem(this.k.apps, id);
        if (eventIds.length > 0) tx.hdel(this.k.events, ...eventIds);
        if (decoded.length > 0) tx.hdel(this.k.ksidIndex, ...decoded.map((s) => s.ksid));
        await tx.exec();
        return true;
      }),
    );
  }

  // Event ids are global, and SendEvent looks events up by id alone on every call: the definitions
  // live in one global hash (one HGET), with a per-app set of ids for listing.
  upsertEvent(event: EventDefinition): Promise<EventDefinition> {
    return orUnavailable(() =>
      this.wrote([this.k.events], async () => {
        const previous = await this.getEvent(event.id);
        const tx = transaction(this.redis);
        if (previous && previous.appId !== event.appId) tx.srem(this.k.appEvents(previous.appId), event.id);
        tx.sadd(this.k.appEvents(event.appId), event.id);
        tx.hset(this.k.events, event.id, buf(toBinary(EventDefinitionSchema, event)));
        await tx.exec();
        return create(EventDefinitionSchema, event);
      }),
    );
  }

  getEvent(id: string): Promise<EventDefinition | undefined> {
    const key = this.k.events;
    return this.cached(key, id, async (r) => this.frozen(EventDefinitionSchema, await r.hgetBuffer(key, id)));
  }

  listEvents(appId: string): Promise<EventDefinition[]> {
    return orUnavailable(async () => {
      const ids = await this.redis.smembers(this.k.appEvents(appId));
      if (ids.length === 0) return [];
      const values = await this.redis.hmgetBuffer(this.k.events, ...ids);
      return values.flatMap((v) => (v ? [fromBinary(EventDefinitionSchema, bytes(v))] : [])).sort((a, b) => a.id.localeCompare(b.id));
    });
  }

  deleteEvent(id: string): Promise<boolean> {
    return orUnavailable(() =>
      this.wrote([this.k.events], async () => {
        const event = await this.getEvent(id);
        if (!event) return false;
        await transaction(this.redis).srem(this.k.appEvents(event.appId), id).hdel(this.k.events, id).exec();
        return true;
      }),
    );
  }

  subscribe(input: SubscriberInput): Promise<Subscriber> {
    const { appId } = input;
    const keys = [
      this.k.subscribers(appId),
      this.k.subscribersOfDevice(appId, input.deviceId),
      this.k.subscribersOfUfid(appId, input.ufid),
    ];
    return orUnavailable(() =>
      this.wrote(keys, async () => {
        const candidate = input.ksid ?? (await this.freshKsid());
        const composite = `${input.deviceId}\u0000${input.ufid}`;
        const [ksid, replaced] = await this.scripts["claim-ksid"].run<[ksid: string, replaced: string]>(
          [
            this.k.subscriberByKey(appId),
            this.k.subscribers(appId),
            this.k.subscribersOfDevice(appId, input.deviceId),
            this.k.subscribersOfUfid(appId, input.ufid),
          ],
          [composite, candidate, input.ksid !== undefined ? "1" : "0"],
        );
        const previous = this.decode(SubscriberSchema, await this.redis.hgetBuffer(this.k.subscribers(appId), ksid));
        const sub = create(SubscriberSchema, {
          ksid,
          appId,
          deviceId: input.deviceId,
          ufid: input.ufid,
          osType: input.osType,
          sid: input.sid ?? previous?.sid ?? "",
          active: true,
        });
        const tx = transaction(this.redis).hset(this.k.subscribers(appId), ksid, buf(toBinary(SubscriberSchema, sub)));
        if (input.deviceId) tx.sadd(this.k.subscribersOfDevice(appId, input.deviceId), ksid);
        if (input.ufid) tx.sadd(this.k.subscribersOfUfid(appId, input.ufid), ksid);
        await tx.exec();
        await this.redis.hset(this.k.ksidIndex, ksid, appId);
        if (replaced) await this.redis.hdel(this.k.ksidIndex, replaced);
        return sub;
      }),
    );
  }

  /** The next counter value that no subscriber holds (seeds may have set ksids explicitly). */
  private async freshKsid(): Promise<string> {
    for (;;) {
      const ksid = String(await this.redis.incr(this.k.ksidSeq));
      if (!(await this.redis.hexists(this.k.ksidIndex, ksid))) return ksid;
    }
  }

  unsubscribe(ksid: string): Promise<boolean> {
    return orUnavailable(async () => {
      const sub = await this.getSubscriber(ksid);
      if (!sub) return false;
      const a = sub.appId;
      await this.wrote([this.k.subscribers(a), this.k.subscribersOfDevice(a, sub.deviceId), this.k.subscribersOfUfid(a, sub.ufid)], () =>
        transaction(this.redis)
          .hdel(this.k.subscribers(a), ksid)
          .hdel(this.k.subscriberByKey(a), `${sub.deviceId}\u0000${sub.ufid}`)
          .srem(this.k.subscribersOfDevice(a, sub.deviceId), ksid)
          .srem(this.k.subscribersOfUfid(a, sub.ufid), ksid)
          .exec(),
      );
      await this.redis.hdel(this.k.ksidIndex, ksid);
      return true;
    });
  }

  deactivate(ksid: string): Promise<boolean> {
    return orUnavailable(async () => {
      const sub = await this.getSubscriber(ksid);
      if (!sub) return false;
      const a = sub.appId;
      sub.active = false;
      // Out of the device and user sets, so that resolve no longer finds it; the record stays.
      await this.wrote([this.k.subscribers(a), this.k.subscribersOfDevice(a, sub.deviceId), this.k.subscribersOfUfid(a, sub.ufid)], () =>
        this.redis
          .multi()
          .hset(this.k.subscribers(a), ksid, buf(toBinary(SubscriberSchema, sub)))
          .srem(this.k.subscribersOfDevice(a, sub.deviceId), ksid)
          .srem(this.k.subscribersOfUfid(a, sub.ufid), ksid)
          .exec(),
      );
      return true;
    });
  }

  getSubscriber(ksid: string): Promise<Subscriber | undefined> {
    return orUnavailable(async () => {
      const appId = await this.redis.hget(this.k.ksidIndex, ksid);
      if (appId === null) return undefined;
      return this.decode(SubscriberSchema, await this.redis.hgetBuffer(this.k.subscribers(appId), ksid));
    });
  }

  listSubscribers(appId: string): Promise<Subscriber[]> {
    return orUnavailable(async () => {
      const values = await this.redis.hvalsBuffer(this.k.subscribers(appId));
      return values
        .map((v) => fromBinary(SubscriberSchema, bytes(v)))
        .sort((a, b) => a.ksid.localeCompare(b.ksid, "en", { numeric: true }));
    });
  }

  /**
   * On the path of every SendEvent that names subscribers: through the near cache, and on a miss one
   * round trip for any number of references (auto-pipelined): one HMGET for the missing ksids, one
   * SMEMBERS per device or user.
   */
  resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved> {
    return orUnavailable(async () => {
      const ksidRefs = refs.flatMap((r) => (r.ref.case === "ksid" ? [r.ref.value] : []));
      const subs = this.k.subscribers(appId);
      // Present and active (a subscriber deactivated by its push service is kept, inactive).
      const exist = async (r: RedisClient, ksids: readonly string[]) =>
        (await r.hmgetBuffer(subs, ...ksids)).map((v) => v !== null && fromBinary(SubscriberSchema, bytes(v)).active);
      const members = (key: string) => this.cached(key, "", async (r) => Object.freeze(await r.smembers(key)));
      const [known, sets] = await Promise.all([
        ksidRefs.length === 0 ? [] : this.cache ? this.cache.readFields(subs, ksidRefs, exist) : exist(this.redis, ksidRefs),
        Promise.all(
          refs.map((r) =>
            r.ref.case === "deviceId"
              ? members(this.k.subscribersOfDevice(appId, r.ref.value))
              : r.ref.case === "ufid"
                ? members(this.k.subscribersOfUfid(appId, r.ref.value))
                : undefined,
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
}
