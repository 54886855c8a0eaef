import type { Redis } from "ioredis";
import type { BatchPublished, Bus, BusListener, History, Idempotency, Published } from "./bus.js";
import { callListener } from "./call-listener.js";
import { BusCommands } from "./redis-bus-commands.js";
import { connectRedis, orUnavailable, readyAll, type RedisConnection } from "../redis/connect.js";
import { keysOf, type RedisKeys } from "../redis/keys.js";
import { UnavailableError } from "../unavailable-error.js";

export interface RedisBusOptions extends RedisConnection {
  /** Messages kept per app, approximately: MAXLEN ~ keeps at least this many. */
  historySize: number;
}

// Keys and channels: keys.ts (msgid, offset, history, channel); scripts: redis-bus-commands.ts.
// On Redis Cluster, RedisClusterBus (redis-cluster-bus.ts) takes this one's place.

/** One channel of this process: its listeners and the state of its one SUBSCRIBE. */
interface Channel {
  readonly listeners: Set<BusListener>;
  /** The subscriber connection is subscribed to it (as far as replies have told). */
  subscribed: boolean;
  /** SUBSCRIBE/UNSUBSCRIBE of this channel run one after the other, in call order. */
  queue: Promise<void>;
  /** Operations queued or running; the entry is dropped when idle and unused. */
  ops: number;
}

/**
 * The bus across instances: Redis pub/sub for delivery, a capped Stream per app for history.
 *
 * Two connections: commands (publish script, history) and a dedicated subscriber, both failing fast
 * while Redis is unreachable (see connectRedis). One SUBSCRIBE per app channel per process,
 * ref-counted over listeners. The subscriber resubscribes itself after a reconnection (ioredis'
 * autoResubscribe is off, so that we know when it is done), then `onResync` listeners are called.
 *
 * The subscriber uses RESP3 like the command connection: with ioredis 6 pub/sub messages arrive
 * as push frames, `messageBuffer` delivers them binary-safe, and replies are matched to commands
 * correctly (checked by the tests).
 */
export class RedisBus implements Bus {
  private readonly channels = new Map<string, Channel>();
  private readonly resyncListeners: Array<() => void> = [];
  private readonly k: RedisKeys;
  /** Counts subscriber reconnections: a resubscription that outlives its connection is dropped. */
  private epoch = 0;
  private commandsUp: Promise<boolean> | undefined;
  private closed = false;

  private constructor(
    private readonly options: RedisBusOptions,
    private readonly commands: Redis,
    private readonly calls: BusCommands,
    private readonly subscriber: Redis,
  ) {
    this.k = keysOf(options);
    subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => this.receive(channel, message));
    subscriber.on("close", () => {
      // Redis dropped this connection's subscriptions with it.
      for (const ch of this.channels.values()) ch.subscribed = false;
    });
    // Every "ready" after connect() is a reconnection (handlers are attached once ready).
    subscriber.on("ready", () => void this.resubscribe());
  }

  /** Connects both connections; rejects with UnavailableError if Redis cannot be reached. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    if (!Number.isSafeInteger(options.historySize) || options.historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${options.historySize}`);
    }
    const commands = connectRedis({ ...options, role: "bus" }, { enableAutoPipelining: true });
    const subscriber = connectRedis({ ...options, role: "bus-subscriber" }, { autoResubscribe: false });
    const calls = new BusCommands(commands, keysOf(options), options);
    await readyAll(commands, subscriber);
    return new RedisBus(options, commands, calls, subscriber);
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
    if (this.subscriber.status !== "ready") {
      throw new UnavailableError(`redis subscriber connection is ${this.subscriber.status}`);
    }
    const name = this.k.channel(appId);
    let ch = this.channels.get(name);
    if (!ch) {
      ch = { listeners: new Set(), subscribed: false, queue: Promise.resolve(), ops: 0 };
      this.channels.set(name, ch);
    }
    // A wrapper per call: the same function subscribed twice is two listeners, removed one by one.
    const entry: BusListener = (m) => listener(m);
    ch.listeners.add(entry);
    try {
      // Waits for the SUBSCRIBE in flight (ours or an earlier listener's), or sends one.
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
      // If UNSUBSCRIBE fails the connection is down (subscriptions gone with it) or Redis is slow
      // (it runs the command late; messages arrive for no listener until then): unsubscribed either way.
      await this.sync(name, ch).catch((err: unknown) =>
        this.options.logger.debug({ channel: name, err: String(err) }, "unsubscribe failed"),
      );
    };
  }

  /**
   * Brings the channel's subscription in line with its listeners (subscribed iff any), after the
   * operations already queued for it. Rejects with UnavailableError if the command fails.
   */
  private sync(name: string, ch: Channel): Promise<void> {
    ch.ops++;
    const run = ch.queue.then(async () => {
      if (this.closed) throw new UnavailableError("bus is closed");
      const wanted = ch.listeners.size > 0;
      if (wanted && !ch.subscribed) {
        await orUnavailable(() => this.subscriber.subscribe(name));
        ch.subscribed = true;
      } else if (!wanted && ch.subscribed && this.subscriber.status === "ready") {
        // Unsubscribed from the moment it is sent: one that times out still runs when Redis gets to
        // it (or the connection drops, subscriptions with it), so the next listener must SUBSCRIBE.
        ch.subscribed = false;
        await orUnavailable(() => this.subscriber.unsubscribe(name));
      }
    });
    ch.queue = run.catch(() => undefined);
    void ch.queue.then(() => {
      if (--ch.ops === 0 && ch.listeners.size === 0 && !ch.subscribed && this.channels.get(name) === ch) {
        this.channels.delete(name);
      }
    });
    return run;
  }

  /**
   * After the subscriber reconnected: subscribe again to every channel with listeners, wait for the
   * command connection too (listeners fill gaps from history), then call the resync listeners.
   */
  private async resubscribe(): Promise<void> {
    const epoch = ++this.epoch;
    const current = () => epoch === this.epoch && !this.closed;
    try {
      await Promise.all([...this.channels].map(([name, ch]) => this.sync(name, ch)));
    } catch (err) {
      if (!current()) return;
      // Still connected but a SUBSCRIBE failed (e.g. timed out): reconnect and try again.
      this.options.logger.warn({ err: String(err) }, "resubscribe failed; reconnecting");
      this.subscriber.disconnect(true);
      return;
    }
    if (!current()) return;
    if (!(await this.commandsReady()) || !current()) return;
    this.options.logger.info({ channels: this.channels.size }, "bus resubscribed; resyncing");
    for (const listener of this.resyncListeners) {
      try {
        listener();
      } catch (err) {
        this.options.logger.error({ err }, "bus resync listener failed");
      }
    }
  }

  /** Resolves true once the command connection is ready, false if it ended. */
  private commandsReady(): Promise<boolean> {
    if (this.commands.status === "ready") return Promise.resolve(true);
    this.commandsUp ??= new Promise<boolean>((resolve) => {
      const done = (up: boolean) => {
        this.commands.off("ready", onReady);
        this.commands.off("end", onEnd);
        this.commandsUp = undefined;
        resolve(up);
      };
      const onReady = () => done(true);
      const onEnd = () => done(false);
      this.commands.on("ready", onReady);
      this.commands.on("end", onEnd);
    });
    return this.commandsUp;
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

  /** Quits both connections; afterwards nothing of the bus keeps the event loop alive. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ch of this.channels.values()) ch.listeners.clear();
    // QUIT fails at once on a connection that is down; disconnect() then stops its reconnection.
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  private checkOpen(): void {
    if (this.closed) throw new UnavailableError("bus is closed");
  }
}
