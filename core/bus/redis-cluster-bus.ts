import type { Cluster, Redis } from "ioredis";
import type { BatchPublished, Bus, BusListener, History, Idempotency, Published } from "./bus.js";
import { callListener } from "./call-listener.js";
import { BusCommands } from "./redis-bus-commands.js";
import { connectClient, connectRedis, orUnavailable, readyAll } from "../redis/connect.js";
import { keysOf, type RedisKeys } from "../redis/keys.js";
import { keySlot } from "../redis/slots.js";
import { UnavailableError } from "../unavailable-error.js";
import type { RedisBusOptions } from "./redis-bus.js";

/** One channel of this process: its listeners and where its SSUBSCRIBE stands. */
interface Channel {
  readonly slot: number;
  readonly listeners: Set<BusListener>;
  /** The node (`host:port`) whose subscriber connection is subscribed to it, as far as replies told. */
  node: string | undefined;
  /** SSUBSCRIBE/SUNSUBSCRIBE of this channel run one after the other, in call order. */
  queue: Promise<void>;
  ops: number;
}

interface SubscriberNode {
  redis: Redis;
  /** Its first connection, while under way. */
  up: Promise<void> | undefined;
}

/** Most MOVED replies followed for one SSUBSCRIBE before it fails (then the repair loop retries). */
const MAX_MOVES = 5;

/**
 * The bus on Redis Cluster: the same publish and history scripts as RedisBus (on the app's slot,
 * msg ids from the slot's counter), delivery by sharded pub/sub: the script SPUBLISHes on the app's
 * channel, which only the shard owning the slot carries, and this process SSUBSCRIBEs to it on that
 * shard's master, one subscriber connection per master it needs.
 *
 * Slots move (resharding, a replica promoted after its master failed). A master that loses a slot
 * tells its subscribers with an unsolicited SUNSUBSCRIBE (ioredis: "moved"); an SSUBSCRIBE sent to a
 * node that does not own the slot is answered MOVED <slot> <node>; a node that fails closes its
 * connection. Each of these puts the channels concerned up for repair: subscribe again where the
 * slot is now (following MOVED), retried with back-off until it succeeds, then the resync listeners
 * are called, so that watchers fill what they missed meanwhile from history (the gap fill of the
 * fan-out): every event once, in order.
 */
export class RedisClusterBus implements Bus {
  private readonly channels = new Map<string, Channel>();
  private readonly nodes = new Map<string, SubscriberNode>();
  /** Where a slot was last found to live (MOVED replies), ahead of the client's slot map. */
  private readonly movedTo = new Map<number, string>();
  private readonly resyncListeners: Array<() => void> = [];
  private readonly k: RedisKeys;
  private repairing: Promise<void> | undefined;
  private repairAgain = false;
  private closed = false;

  private constructor(
    private readonly options: RedisBusOptions,
    private readonly commands: Cluster,
    private readonly calls: BusCommands,
  ) {
    this.k = keysOf(options);
  }

  static async connect(options: RedisBusOptions): Promise<RedisClusterBus> {
    if (!Number.isSafeInteger(options.historySize) || options.historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${options.historySize}`);
    }
    const commands = connectClient({ ...options, role: "bus" }, { enableAutoPipelining: true }) as Cluster;
    const calls = new BusCommands(commands, keysOf(options), options);
    await readyAll(commands);
    return new RedisClusterBus(options, commands, calls);
  }

  async publish(appId: string, envelope: Uint8Array): Promise<Published> {
    const { ids, messages } = await this.publishBatch(appId, [envelope]);
    return { ...ids[0]!, message: messages[0]! };
  }

  async publishBatch(appId: string, envelopes: readonly Uint8Array[], idempotency?: Idempotency): Promise<BatchPublished> {
    this.checkOpen();
    return this.calls.publishBatch(appId, envelopes, idempotency);
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    this.checkOpen();
    return this.calls.history(appId, after, limit);
  }

  async subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>> {
    this.checkOpen();
    if (this.commands.status !== "ready") throw new UnavailableError(`redis cluster connection is ${this.commands.status}`);
    const name = this.k.channel(appId);
    let ch = this.channels.get(name);
    if (!ch) {
      ch = { slot: keySlot(name), listeners: new Set(), node: undefined, queue: Promise.resolve(), ops: 0 };
      this.channels.set(name, ch);
    }
    const entry: BusListener = (m) => listener(m);
    ch.listeners.add(entry);
    try {
      await this.sync(name, ch);
    } catch (err) {
      ch.listeners.delete(entry);
      if (ch.listeners.size === 0) this.sync(name, ch).catch(() => undefined);
      throw err;
    }
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      ch.listeners.delete(entry);
      if (ch.listeners.size > 0 || this.closed) return;
      await this.sync(name, ch).catch((err: unknown) =>
        this.options.logger.debug({ channel: name, err: String(err) }, "sunsubscribe failed"),
      );
    };
  }

  /** Subscribed (on the slot's master) iff the channel has listeners, after the operations queued before. */
  private sync(name: string, ch: Channel): Promise<void> {
    ch.ops++;
    const run = ch.queue.then(async () => {
      if (this.closed) throw new UnavailableError("bus is closed");
      const wanted = ch.listeners.size > 0;
      if (wanted && ch.node === undefined) {
        ch.node = await this.ssubscribe(name, ch.slot);
      } else if (!wanted && ch.node !== undefined) {
        const node = this.nodes.get(ch.node)?.redis;
        ch.node = undefined;
        if (node?.status === "ready") await orUnavailable(() => node.sunsubscribe(name));
      }
    });
    ch.queue = run.catch(() => undefined);
    void ch.queue.then(() => {
      if (--ch.ops === 0 && ch.listeners.size === 0 && ch.node === undefined && this.channels.get(name) === ch) {
        this.channels.delete(name);
      }
    });
    return run;
  }

  /** SSUBSCRIBE on the master of `slot`, following MOVED; resolves with the node that took it. */
  private async ssubscribe(name: string, slot: number): Promise<string> {
    let address = this.movedTo.get(slot) ?? this.commands.slots[slot]?.[0];
    for (let moves = 0; ; moves++) {
      if (!address) throw new UnavailableError(`no node is known for slot ${slot}`);
      const node = await this.node(address);
      try {
        await orUnavailable(() => node.ssubscribe(name));
        return address;
      } catch (err) {
        const moved = /^MOVED \d+ (\S+)/.exec(err instanceof Error ? err.message : "");
        if (!moved || moves >= MAX_MOVES) throw err;
        address = moved[1]!;
        this.movedTo.set(slot, address);
      }
    }
  }

  /**
   * The subscriber connection to one master, made and connected on first use. One that is down is
   * replaced by a fresh one (its subscriptions are gone anyway), so a call fails fast or succeeds.
   */
  private async node(address: string): Promise<Redis> {
    const known = this.nodes.get(address);
    if (known?.redis.status === "ready") return known.redis;
    if (known?.up) {
      await known.up;
      return known.redis;
    }
    if (known) {
      this.nodes.delete(address);
      known.redis.disconnect();
    }
    const redis = connectRedis(
      { ...this.options, cluster: undefined, sentinels: undefined, url: `redis://${address}`, role: `bus-subscriber ${address}` },
      { autoResubscribe: false },
    );
    const entry: SubscriberNode = { redis, up: undefined };
    this.nodes.set(address, entry);
    redis.on("smessageBuffer", (channel: Buffer, message: Buffer) => this.receive(channel, message));
    // The node dropped our subscriptions: it gave a slot away, or the connection is gone.
    redis.on("moved", () => this.lost(address, redis));
    redis.on("close", () => this.lost(address, redis));
    entry.up = readyAll(redis).finally(() => (entry.up = undefined));
    try {
      await entry.up;
    } catch (err) {
      if (this.nodes.get(address) === entry) this.nodes.delete(address);
      throw err;
    }
    return redis;
  }

  /** The channels subscribed on `address` may be gone: subscribe them again where their slots are. */
  private lost(address: string, redis: Redis): void {
    if (this.closed || this.nodes.get(address)?.redis !== redis) return;
    for (const ch of this.channels.values()) if (ch.node === address) ch.node = undefined;
    void this.repair();
  }

  /**
   * Subscribes every channel with listeners that has no subscription, after refreshing the slot
   * map; retried with back-off until all are, then calls the resync listeners. One run at a time;
   * a loss during a run makes it go round once more.
   */
  private repair(): Promise<void> {
    if (this.repairing) {
      this.repairAgain = true;
      return this.repairing;
    }
    this.repairing = (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        this.repairAgain = false;
        this.movedTo.clear();
        await new Promise<void>((resolve) => this.commands.refreshSlotsCache(() => resolve()));
        const results = await Promise.allSettled([...this.channels].map(([name, ch]) => this.sync(name, ch)));
        const failed = results.filter((r) => r.status === "rejected").length;
        if (failed === 0 && !this.repairAgain) break;
        if (failed > 0) {
          this.options.logger.warn({ failed }, "sharded resubscription failed; retrying");
          const delay = Math.min(50 * 2 ** Math.min(attempt, 10), this.options.maxReconnectDelayMs);
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
      this.repairing = undefined;
      if (this.closed) return;
      this.options.logger.info({ channels: this.channels.size }, "bus resubscribed; resyncing");
      for (const listener of this.resyncListeners) {
        try {
          listener();
        } catch (err) {
          this.options.logger.error({ err }, "bus resync listener failed");
        }
      }
    })();
    return this.repairing;
  }

  private receive(channel: Buffer, message: Buffer): void {
    const ch = this.channels.get(channel.toString());
    if (!ch || ch.listeners.size === 0) return;
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    for (const listener of ch.listeners) callListener(listener, bytes, this.listenerFailed);
  }

  private readonly listenerFailed = (err: unknown): void => {
    this.options.logger.error({ err }, "bus listener failed");
  };

  onResync(listener: () => void): void {
    this.resyncListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ch of this.channels.values()) ch.listeners.clear();
    const all = [this.commands, ...[...this.nodes.values()].map((n) => n.redis)];
    await Promise.allSettled(all.map((c) => c.quit()));
    for (const c of all) c.disconnect();
    this.nodes.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("bus is closed");
  }
}
