import type { Redis } from "ioredis";
import { BusUnavailableError, type Bus, type BusListener, type History, type Published } from "./bus.js";
import { appendIds } from "./envelope.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";

export interface RedisBusOptions {
  url: string;
  /** Prefix of every key and channel. */
  keyPrefix: string;
  /** Messages kept per app (approximately: MAXLEN ~ keeps at least this many). */
  historySize: number;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  logger: Logger;
}

/**
 * One script appends to history and publishes, so history order is delivery order. It also
 * assigns both ids, and appends them to the envelope as Event fields 1 and 2 (byte-identical to
 * appendIds). The global msgid key is the one key not tagged per app: on Redis Cluster it must move
 * (e.g. to a per-slot counter), as a script may touch keys of one slot only.
 */
const PUBLISH_SCRIPT = `
local msgid = redis.call('INCR', KEYS[1])
local offset = redis.call('INCR', KEYS[2])
local id = string.format('%d', msgid)
local n = offset
local v = {}
while n >= 128 do
  v[#v + 1] = string.char(n % 128 + 128)
  n = math.floor(n / 128)
end
v[#v + 1] = string.char(n)
local data = ARGV[1] .. '\\10' .. string.char(#id) .. id .. '\\16' .. table.concat(v)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. string.format('%d', offset), 'd', data)
redis.call('PUBLISH', ARGV[3], data)
return {id, string.format('%d', offset)}
`;

/** Offsets and the stream's oldest entry in one round trip. */
const BOUNDS_SCRIPT = `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local earliest = '0'
if first[1] then earliest = string.match(first[1][1], '^0%-(%d+)$') or '0' end
return {earliest, redis.call('GET', KEYS[2]) or '0'}
`;

type Commands = Redis & {
  heraldPublish(msgidKey: string, offsetKey: string, historyKey: string, data: Buffer, max: string, channel: string): Promise<[string, string]>;
  heraldBounds(historyKey: string, offsetKey: string): Promise<[string, string]>;
};

/**
 * The bus across instances: Redis pub/sub for delivery, a capped Stream per app for history.
 * A command connection and a subscriber connection; one SUBSCRIBE per app per process.
 */
export class RedisBus implements Bus {
  private readonly listeners = new Map<string, Set<BusListener>>();
  /** Per channel: the SUBSCRIBE / UNSUBSCRIBE in flight, so they apply in call order. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly resyncListeners: Array<() => void> = [];
  private wasDown = false;

  private constructor(
    private readonly options: RedisBusOptions,
    private readonly commands: Commands,
    private readonly subscriber: Redis,
  ) {
    subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
      const set = this.listeners.get(channel.toString());
      if (!set) return;
      const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      for (const l of set) {
        try {
          l(bytes);
        } catch (err) {
          options.logger.error({ err }, "bus listener failed");
        }
      }
    });
    subscriber.on("close", () => (this.wasDown = true));
    subscriber.on("ready", () => void this.resubscribe());
  }

  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const common = {
      url: options.url,
      logger: options.logger,
      commandTimeoutMs: options.commandTimeoutMs,
      maxReconnectDelayMs: options.maxReconnectDelayMs,
    };
    const commands = connectRedis({ ...common, role: "bus" }, { enableAutoPipelining: true }) as Commands;
    // Resubscription is ours (see resubscribe), so that resync follows it.
    const subscriber = connectRedis({ ...common, role: "bus-subscriber" }, { autoResubscribe: false });
    commands.defineCommand("heraldPublish", { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
    commands.defineCommand("heraldBounds", { numberOfKeys: 2, lua: BOUNDS_SCRIPT });
    try {
      await Promise.all([ready(commands), ready(subscriber)]);
    } catch (err) {
      commands.disconnect();
      subscriber.disconnect();
      throw new BusUnavailableError(`cannot connect to Redis: ${String(err)}`);
    }
    return new RedisBus(options, commands, subscriber);
  }

  private key(appId: string, what: string): string {
    return `${this.options.keyPrefix}{${appId}}:${what}`;
  }

  private channel(appId: string): string {
    return this.key(appId, "events");
  }

  async publish(appId: string, envelope: Uint8Array): Promise<Published> {
    const data = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    const [msgId, offset] = await unavailable(() =>
      this.commands.heraldPublish(
        `${this.options.keyPrefix}msgid`,
        this.key(appId, "offset"),
        this.key(appId, "history"),
        data,
        String(this.options.historySize),
        this.channel(appId),
      ),
    );
    const message = appendIds(envelope, msgId, BigInt(offset));
    return { msgId, offset: BigInt(offset), message };
  }

  async subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>> {
    const channel = this.channel(appId);
    const entry: BusListener = (m) => listener(m);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    const first = set.size === 0;
    set.add(entry);
    if (first) {
      try {
        await this.serial(channel, () => this.subscriber.subscribe(channel));
      } catch (err) {
        set.delete(entry);
        if (set.size === 0) this.listeners.delete(channel);
        throw err;
      }
    } else {
      await this.pending.get(channel); // the first subscriber's SUBSCRIBE may still be in flight
    }
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      const current = this.listeners.get(channel);
      if (!current?.delete(entry) || current.size > 0) return;
      this.listeners.delete(channel);
      await this.serial(channel, async () => {
        // Re-subscribed meanwhile: keep it.
        if (!this.listeners.has(channel) && this.subscriber.status === "ready") {
          await this.subscriber.unsubscribe(channel);
        }
      }).catch(() => undefined); // a dropped connection unsubscribes anyway
    };
  }

  /** Runs SUBSCRIBE/UNSUBSCRIBE of one channel in call order. */
  private serial(channel: string, op: () => Promise<unknown>): Promise<void> {
    const prev = this.pending.get(channel) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => unavailable(op)).then(() => undefined);
    this.pending.set(channel, next);
    void next.finally(() => {
      if (this.pending.get(channel) === next) this.pending.delete(channel);
    }).catch(() => undefined);
    return next;
  }

  /** After a reconnection: subscribe again to every channel with listeners, then resync. */
  private async resubscribe(): Promise<void> {
    if (!this.wasDown) return;
    this.wasDown = false;
    const channels = [...this.listeners.keys()];
    try {
      if (channels.length > 0) await this.subscriber.subscribe(...channels);
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, "resubscribe failed; will retry on reconnect");
      this.wasDown = true;
      return;
    }
    for (const l of this.resyncListeners) l();
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    const historyKey = this.key(appId, "history");
    const offsetKey = this.key(appId, "offset");
    const [entries, bounds] = await unavailable(() =>
      Promise.all([
        limit > 0
          ? this.commands.xrangeBuffer(historyKey, `(0-${after}`, "+", "COUNT", limit)
          : Promise.resolve([]),
        this.commands.heraldBounds(historyKey, offsetKey),
      ]),
    );
    return {
      messages: entries.map(([, fields]) => {
        const value = fields[1] as Buffer;
        return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      }),
      earliest: BigInt(bounds[0]),
      latest: BigInt(bounds[1]),
    };
  }

  onResync(listener: () => void): void {
    this.resyncListeners.push(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }
}

/** Runs a Redis call; connection trouble becomes BusUnavailableError. */
async function unavailable<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    throw new BusUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`);
  }
}
