import { EventEmitter } from "node:events";
import { ReplyError, type Redis } from "ioredis";
import { connectRedis, ready, type RedisConnectOptions } from "./connect.js";

const CHANNEL = "__redis__:invalidate";

/** What a near cache counts. */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Invalidation messages from Redis (another writer, a flush, or tracking restarted). */
  invalidations: number;
}

export interface TrackedCacheOptions extends RedisConnectOptions {
  /** Most values kept; past it the cache starts over. */
  maxEntries: number;
}

/**
 * A near cache of values read from Redis, kept true by Redis itself (server-assisted client-side
 * caching: CLIENT TRACKING with REDIRECT). Every read goes through `reads`, a connection Redis
 * tracks; when a key read there changes (a write from any client, expiry, eviction, FLUSHALL),
 * Redis sends the key's name to `invalidations` on `__redis__:invalidate`, and what was kept for it
 * is dropped. Values are kept per key and field (a hash field, or "" for the whole key).
 *
 * Guarantees:
 * - A value is served from the cache only while both connections are up and tracking is on. Any
 *   disconnection empties it, and reads go to Redis until tracking is set up again.
 * - A read whose key is invalidated while it is in flight is returned but not kept: its reply and
 *   the invalidation come on different connections, in either order.
 * - After a write of its own, the caller calls `invalidate` with the keys written, once the write
 *   is answered: this process then reads its own writes. A write by another client is seen here once
 *   its invalidation arrives; Redis queues it while running the write, before the writer's reply.
 * - At most `maxEntries` values; past that it starts over (a cache, not a store).
 *
 * Emits "invalidate" (keys, or null for everything) after dropping, and "tracking" (on: boolean).
 */
export class TrackedCache extends EventEmitter {
  /** Reads answered from the cache or from Redis, and invalidations Redis sent; the metrics read them. */
  readonly stats: CacheStats = { hits: 0, misses: 0, invalidations: 0 };
  private readonly entries = new Map<string, Map<string, unknown>>();
  private size = 0;
  private active = false;
  /** Moves on at every disconnection: a read that started before one is not kept. */
  private epoch = 0;
  /** CLIENT ID of `invalidations` once it is subscribed; where tracking redirects to. */
  private redirectId: number | undefined;
  /** Moves on when `invalidations` drops: an id asked for before belongs to a gone connection. */
  private invalidationsEpoch = 0;
  /** Set-ups of tracking run one at a time, after every (re)connection of either connection. */
  private setup: Promise<void> = Promise.resolve();
  private unsupported = false;
  private closed = false;

  private constructor(
    private readonly options: TrackedCacheOptions,
    /** The tracked connection: pass it to fetch functions only through read/readFields. */
    private readonly reads: Redis,
    private readonly invalidations: Redis,
  ) {
    super();
  }

  static async connect(options: TrackedCacheOptions): Promise<TrackedCache> {
    // Named, so that operators (and tests) can tell them apart in CLIENT LIST.
    const reads = connectRedis(
      { ...options, role: `${options.role} (tracked reads)` },
      { enableAutoPipelining: true, connectionName: "herald-tracked-reads" },
    );
    // RESP2: invalidations then come as pub/sub messages, which ioredis hands on (it drops RESP3
    // "invalidate" pushes). Resubscribed by hand, after asking the new connection's id.
    const invalidations = connectRedis(
      { ...options, role: `${options.role} (invalidations)` },
      {
        protocol: 2,
        autoResubscribe: false,
        connectionName: "herald-invalidations",
      },
    );
    const cache = new TrackedCache(options, reads, invalidations);
    invalidations.on("messageBuffer", (channel: Buffer, keys: unknown) => {
      if (channel.toString() === CHANNEL) cache.dropKeys(keys);
    });
    invalidations.on("close", () => {
      cache.redirectId = undefined;
      cache.invalidationsEpoch++;
      cache.stop();
    });
    reads.on("close", () => cache.stop());
    invalidations.on("ready", () => cache.track());
    reads.on("ready", () => cache.track());
    try {
      await Promise.all([ready(reads), ready(invalidations)]);
      await cache.track();
    } catch (err) {
      reads.disconnect();
      invalidations.disconnect();
      throw err;
    }
    return cache;
  }

  /** Whether values are being kept now (tracking is on). */
  get tracking(): boolean {
    return this.active;
  }

  /** The value the cache holds for `key` and `field` right now, if it holds one (no read, no wait). */
  peek<T>(key: string, field: string): T | undefined {
    const entry = this.active ? this.entries.get(key) : undefined;
    return entry?.get(field) as T | undefined;
  }

  /** A value read through the cache: `fetch` reads it from the tracked connection on a miss. */
  async read<T>(key: string, field: string, fetch: (redis: Redis) => Promise<T>): Promise<T> {
    const entry = this.active ? this.entries.get(key) : undefined;
    if (entry?.has(field)) {
      this.stats.hits++;
      return entry.get(field) as T;
    }
    const [value] = await this.readFields<T>(key, [field], async (redis) => [await fetch(redis)]);
    return value as T;
  }

  /** Several fields of one key; `fetch` reads the missing ones, in the order given, in one go. */
  async readFields<T>(
    key: string,
    fields: readonly string[],
    fetch: (redis: Redis, missing: readonly string[]) => Promise<T[]>,
  ): Promise<T[]> {
    let entry = this.active ? this.entries.get(key) : undefined;
    const out = new Array<T>(fields.length);
    const missing: string[] = [];
    const at: number[] = [];
    fields.forEach((field, i) => {
      if (entry?.has(field)) out[i] = entry.get(field) as T;
      else {
        missing.push(field);
        at.push(i);
      }
    });
    this.stats.hits += fields.length - missing.length;
    this.stats.misses += missing.length;
    if (missing.length === 0) return out;
    // The entry this read may fill: an invalidation meanwhile removes it from `entries`.
    if (this.active && !entry) this.entries.set(key, (entry = new Map()));
    const epoch = this.epoch;
    const values = await fetch(this.reads, missing);
    const keep = entry !== undefined && this.epoch === epoch && this.entries.get(key) === entry;
    missing.forEach((field, j) => {
      const value = values[j] as T;
      out[at[j]!] = value;
      if (keep && entry) {
        if (!entry.has(field)) this.size++;
        entry.set(field, value);
      }
    });
    if (this.size > this.options.maxEntries) this.drop(null);
    return out;
  }

  /** Drops what is kept for these keys (after this process wrote them), or everything. */
  invalidate(keys: readonly string[] | null): void {
    this.drop(keys);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await Promise.all([this.reads.quit().catch(() => undefined), this.invalidations.quit().catch(() => undefined)]);
    this.reads.disconnect();
    this.invalidations.disconnect();
  }

  /** An invalidation message: an array of key names, or null when Redis dropped everything. */
  private dropKeys(keys: unknown): void {
    this.stats.invalidations++;
    this.drop(Array.isArray(keys) ? keys.map((k: Buffer | string) => k.toString()) : null);
  }

  private drop(keys: readonly string[] | null): void {
    if (keys === null) {
      this.entries.clear();
      this.size = 0;
    } else {
      for (const key of keys) {
        const entry = this.entries.get(key);
        if (!entry) continue;
        this.size -= entry.size;
        this.entries.delete(key);
      }
    }
    this.emit("invalidate", keys);
  }

  private stop(): void {
    this.epoch++;
    const was = this.active;
    this.active = false;
    this.drop(null);
    if (was && !this.closed) {
      this.options.logger.warn({ role: this.options.role }, "registry cache off until Redis is back");
      this.emit("tracking", false);
    }
  }

  /** Sets tracking up once both connections are ready; queued behind any set-up in progress. */
  private track(): Promise<void> {
    this.setup = this.setup
      .then(() => this.establish())
      .catch((err: unknown) => {
        // A refusal from Redis (say, an ACL without CLIENT) is worth an operator's look; a dropped
        // connection is not, and the set-up runs again when it is back.
        const level = err instanceof ReplyError ? "warn" : "debug";
        this.options.logger[level]({ role: this.options.role, err: String(err) }, "registry cache: tracking not set up, reads go to Redis");
      });
    return this.setup;
  }

  private async establish(): Promise<void> {
    if (this.closed || this.unsupported || this.active) return;
    const epoch = this.epoch;
    if (this.redirectId === undefined) {
      if (this.invalidations.status !== "ready") return;
      const connection = this.invalidationsEpoch;
      const id = Number(await this.invalidations.client("ID"));
      await this.invalidations.subscribe(CHANNEL);
      // Kept even if `reads` dropped meanwhile: this connection is subscribed now (and RESP2 allows
      // no CLIENT ID on it any more), so its id is where tracking redirects until it drops.
      if (this.invalidationsEpoch !== connection) return;
      this.redirectId = id;
    }
    if (this.reads.status !== "ready") return;
    try {
      await this.reads.client("TRACKING", "ON", "REDIRECT", String(this.redirectId));
    } catch (err) {
      // Anything but "no such command" (e.g. the redirect target just went away) is tried again at
      // the next reconnection.
      const message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof ReplyError) || !/unknown (sub)?command/i.test(message)) throw err;
      // A Redis before 6 (no CLIENT TRACKING): everything is read from Redis, as without a cache.
      this.unsupported = true;
      this.options.logger.warn({ role: this.options.role, err: message }, "Redis cannot track keys: registry reads are not cached");
      return;
    }
    if (this.epoch !== epoch) return;
    this.active = true;
    this.emit("tracking", true);
  }
}
