import type { Redis } from "ioredis";
import { BusUnavailableError, type Bus, type BusListener, type History, type Published } from "./bus.js";
import { appendIds } from "./envelope.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";

export interface RedisBusOptions {
  url: string;
  /** Prefix of every key and channel. Default "herald:". */
  keyPrefix?: string;
  /** Messages kept per app, approximately: MAXLEN ~ keeps at least this many. */
  historySize: number;
  /** A command not answered within this time fails with BusUnavailableError (ms). */
  commandTimeoutMs: number;
  /** Longest wait between reconnection attempts (ms). */
  maxReconnectDelayMs: number;
  logger: Logger;
}

/*
 * Key and channel layout (P = keyPrefix, A = app id):
 *
 *   P msgid          string   global message id counter (INCR)
 *   P{A}:offset      string   the app's latest offset (INCR)
 *   P{A}:history     stream   the app's messages, entry id 0-<offset>, one field `d` = the message
 *   P{A}:events      channel  the app's messages as published
 *
 * Everything of one app is hash-tagged `{A}` so that Redis Cluster puts it in one slot (a script may
 * only touch keys of one slot; channels would go to SPUBLISH/SSUBSCRIBE). The global `P msgid` is
 * the exception: on Cluster it has to be split (e.g. a counter per slot, combined with the slot into
 * an id that still increases) before the publish script can run there.
 */

/**
 * Assigns both ids, appends to history and publishes, in one atomic step: history order is
 * delivery order. The message is the envelope followed by Event.msg_id (field 1, tag 0x0a, length,
 * ASCII digits) and Event.offset (field 2, tag 0x10, varint), byte-identical to appendIds.
 *
 * KEYS: msgid, offset, history. ARGV: envelope, historySize, channel. Returns {msgId, offset}.
 * Lua numbers are doubles: ids stay exact up to 2^53.
 */
const PUBLISH_SCRIPT = `
local msgid = redis.call('INCR', KEYS[1])
local offset = redis.call('INCR', KEYS[2])
local id = string.format('%d', msgid)
local off = string.format('%d', offset)
local n = offset
local v = {}
while n >= 128 do
  v[#v + 1] = string.char(n % 128 + 128)
  n = math.floor(n / 128)
end
v[#v + 1] = string.char(n)
local data = ARGV[1] .. '\\10' .. string.char(#id) .. id .. '\\16' .. table.concat(v)
local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. off, 'd', data)
if type(added) == 'table' and added.err then
  -- Scripts do not roll back: undo the counters so that a failed append leaves no offset gap.
  redis.call('DECR', KEYS[2])
  redis.call('DECR', KEYS[1])
  return added
end
redis.call('PUBLISH', ARGV[3], data)
return {id, off}
`;

/**
 * One page of history with the bounds, from one snapshot. KEYS: history, offset. ARGV: exclusive
 * start id "(0-<after>", limit. Returns {earliest, latest, {message, ...}}.
 */
const HISTORY_SCRIPT = `
local latest = redis.call('GET', KEYS[2]) or '0'
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local earliest = '0'
if first[1] then earliest = string.sub(first[1][1], 3) end
local messages = {}
if tonumber(ARGV[2]) > 0 then
  local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
  for i, entry in ipairs(entries) do messages[i] = entry[2][2] end
end
return {earliest, latest, messages}
`;

interface Scripts {
  heraldPublish(msgidKey: string, offsetKey: string, historyKey: string, envelope: Buffer, historySize: number, channel: string): Promise<[string, string]>;
  heraldHistoryBuffer(historyKey: string, offsetKey: string, start: string, limit: number): Promise<[Buffer, Buffer, Buffer[]]>;
}

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
  private readonly keyPrefix: string;
  /** Counts subscriber reconnections: a resubscription that outlives its connection is dropped. */
  private epoch = 0;
  private commandsUp: Promise<boolean> | undefined;
  private closed = false;

  private constructor(
    private readonly options: RedisBusOptions,
    private readonly commands: Redis & Scripts,
    private readonly subscriber: Redis,
  ) {
    this.keyPrefix = options.keyPrefix ?? "herald:";
    subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => this.receive(channel, message));
    subscriber.on("close", () => {
      // Redis dropped this connection's subscriptions with it.
      for (const ch of this.channels.values()) ch.subscribed = false;
    });
    // Every "ready" after connect() is a reconnection (handlers are attached once ready).
    subscriber.on("ready", () => void this.resubscribe());
  }

  /** Connects both connections; rejects with BusUnavailableError if Redis cannot be reached. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    if (!Number.isSafeInteger(options.historySize) || options.historySize < 1) {
      throw new RangeError(`historySize must be a positive integer, got ${options.historySize}`);
    }
    const common = {
      url: options.url,
      logger: options.logger,
      commandTimeoutMs: options.commandTimeoutMs,
      maxReconnectDelayMs: options.maxReconnectDelayMs,
    };
    const commands = connectRedis({ ...common, role: "bus" }, { enableAutoPipelining: true }) as Redis & Scripts;
    const subscriber = connectRedis({ ...common, role: "bus-subscriber" }, { autoResubscribe: false });
    commands.defineCommand("heraldPublish", { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
    commands.defineCommand("heraldHistory", { numberOfKeys: 2, lua: HISTORY_SCRIPT, readOnly: true });
    try {
      await Promise.all([ready(commands), ready(subscriber)]);
    } catch (err) {
      commands.disconnect();
      subscriber.disconnect();
      throw new BusUnavailableError(`cannot connect to Redis: ${err instanceof Error ? err.message : String(err)}`);
    }
    return new RedisBus(options, commands, subscriber);
  }

  private key(appId: string, what: "offset" | "history" | "events"): string {
    return `${this.keyPrefix}{${appId}}:${what}`;
  }

  async publish(appId: string, envelope: Uint8Array): Promise<Published> {
    this.checkOpen();
    const [msgId, offset] = await unavailable(() =>
      this.commands.heraldPublish(
        `${this.keyPrefix}msgid`,
        this.key(appId, "offset"),
        this.key(appId, "history"),
        Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength),
        this.options.historySize,
        this.key(appId, "events"),
      ),
    );
    const at = BigInt(offset);
    return { msgId, offset: at, message: appendIds(envelope, msgId, at) };
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    this.checkOpen();
    const from = after < 0n ? 0n : after;
    const [earliest, latest, messages] = await unavailable(() =>
      this.commands.heraldHistoryBuffer(
        this.key(appId, "history"),
        this.key(appId, "offset"),
        `(0-${from}`,
        Math.max(0, Math.floor(limit)),
      ),
    );
    return {
      messages: messages.map((m) => new Uint8Array(m.buffer, m.byteOffset, m.byteLength)),
      earliest: BigInt(earliest.toString()),
      latest: BigInt(latest.toString()),
    };
  }

  async subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>> {
    this.checkOpen();
    if (this.subscriber.status !== "ready") {
      throw new BusUnavailableError(`redis subscriber connection is ${this.subscriber.status}`);
    }
    const name = this.key(appId, "events");
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
      // If UNSUBSCRIBE fails the connection is down (subscriptions gone with it) or Redis is slow:
      // messages then still arrive, for no listener, until the next change of this channel.
      await this.sync(name, ch).catch((err: unknown) =>
        this.options.logger.debug({ channel: name, err: String(err) }, "unsubscribe failed"),
      );
    };
  }

  /**
   * Brings the channel's subscription in line with its listeners (subscribed iff any), after the
   * operations already queued for it. Rejects with BusUnavailableError if the command fails.
   */
  private sync(name: string, ch: Channel): Promise<void> {
    ch.ops++;
    const run = ch.queue.then(async () => {
      if (this.closed) throw new BusUnavailableError("bus is closed");
      const wanted = ch.listeners.size > 0;
      if (wanted && !ch.subscribed) {
        await unavailable(() => this.subscriber.subscribe(name));
        ch.subscribed = true;
      } else if (!wanted && ch.subscribed && this.subscriber.status === "ready") {
        await unavailable(() => this.subscriber.unsubscribe(name));
        ch.subscribed = false;
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
    for (const listener of ch.listeners) {
      try {
        const result: unknown = listener(bytes);
        if (result instanceof Promise) result.catch((err: unknown) => this.listenerFailed(err));
      } catch (err) {
        this.listenerFailed(err);
      }
    }
  }

  private listenerFailed(err: unknown): void {
    this.options.logger.error({ err }, "bus listener failed");
  }

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
    if (this.closed) throw new BusUnavailableError("bus is closed");
  }
}

/** Runs a Redis call; connection trouble (closed, not writeable, timed out) becomes BusUnavailableError. */
async function unavailable<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof BusUnavailableError || !isUnavailable(err)) throw err;
    throw new BusUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
