import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { StoreUnavailableError } from "../store/store.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";
import type { Job, WorkQueue, WorkQueueOptions } from "./work-queue.js";

export interface RedisWorkQueueOptions extends WorkQueueOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  logger: Logger;
}

const GROUP = "deliverers";

/**
 * Resets the idle time of a pending entry only if this consumer still owns it, so that a stalled
 * owner never takes a job back from the instance that took it over.
 * KEYS: stream. ARGV: group, consumer, entry id.
 */
const HEARTBEAT_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`;

type Commands = Redis & {
  eventhosHeartbeat(stream: string, group: string, consumer: string, id: string): Promise<number>;
};

type StreamEntry = [id: string, fields: string[] | null];

/**
 * The work queue as a Redis Stream (`eventhos:deliveries`) with one consumer group: XREADGROUP
 * hands each entry to one consumer, XAUTOCLAIM gives entries idle longer than `claimIdleMs` to
 * another (their owner died), the owner's heartbeat keeps them from idling, and XACK + XDEL in
 * one transaction end them, so the stream holds only unfinished work.
 */
export class RedisWorkQueue implements WorkQueue {
  readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private closed = false;
  private lastClaimMs = 0;

  private constructor(
    private readonly options: RedisWorkQueueOptions,
    private readonly stream: string,
    private readonly redis: Commands,
    /** XREADGROUP BLOCK holds its connection: a connection of its own. */
    private readonly blocking: Redis,
  ) {}

  static async connect(options: RedisWorkQueueOptions): Promise<RedisWorkQueue> {
    const redis = connectRedis({ ...options, role: "delivery-queue" }) as Commands;
    redis.defineCommand("eventhosHeartbeat", { numberOfKeys: 1, lua: HEARTBEAT_SCRIPT });
    const blocking = connectRedis({ ...options, role: "delivery-queue-read", commandTimeoutMs: options.commandTimeoutMs + options.blockMs });
    try {
      await Promise.all([ready(redis), ready(blocking)]);
    } catch (err) {
      redis.disconnect();
      blocking.disconnect();
      throw new StoreUnavailableError(`cannot connect to Redis: ${String(err)}`);
    }
    const queue = new RedisWorkQueue(options, `${options.keyPrefix}eventhos:deliveries`, redis, blocking);
    await queue.ensureGroup();
    return queue;
  }

  private async ensureGroup(): Promise<void> {
    await this.redis.xgroup("CREATE", this.stream, GROUP, "0", "MKSTREAM").catch((err: unknown) => {
      if (!String(err).includes("BUSYGROUP")) throw err;
    });
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    return f().catch(async (err: unknown) => {
      if (String(err).includes("NOGROUP")) await this.ensureGroup().catch(() => undefined);
      if (isUnavailable(err)) throw new StoreUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    });
  }

  add(receivedId: string): Promise<void> {
    return this.call(async () => {
      await this.redis.xadd(this.stream, "*", "r", receivedId);
    });
  }

  async take(max: number): Promise<Job[]> {
    if (this.closed) return [];
    const jobs: Job[] = [];
    // Takeover of dead consumers' work, at most a few times per idle period.
    const now = Date.now();
    if (now - this.lastClaimMs >= Math.min(this.options.claimIdleMs / 4, 1000)) {
      this.lastClaimMs = now;
      const [, entries, deleted = []] = (await this.call(() =>
        this.redis.xautoclaim(this.stream, GROUP, this.consumer, this.options.claimIdleMs, "0-0", "COUNT", max),
      )) as [string, StreamEntry[], string[]?];
      jobs.push(...this.jobs(entries));
      // Entries deleted while pending (Redis 7 lists them): nothing to do, settle them.
      if (deleted.length > 0) await this.call(() => this.redis.xack(this.stream, GROUP, ...deleted));
    }
    if (jobs.length >= max) return jobs;
    try {
      const res = (await this.blocking.xreadgroup(
        "GROUP", GROUP, this.consumer, "COUNT", max - jobs.length,
        // With claimed work in hand, do not wait for more.
        "BLOCK", jobs.length > 0 ? 1 : this.options.blockMs,
        "STREAMS", this.stream, ">",
      )) as Array<[string, StreamEntry[]]> | null;
      jobs.push(...this.jobs(res?.[0]?.[1] ?? []));
    } catch (err) {
      if (this.closed) return jobs;
      if (String(err).includes("NOGROUP")) await this.ensureGroup();
      else if (isUnavailable(err)) throw new StoreUnavailableError(`redis: ${String(err)}`);
      else throw err;
    }
    return jobs;
  }

  private jobs(entries: StreamEntry[]): Job[] {
    const out: Job[] = [];
    for (const [id, fields] of entries) {
      const i = fields?.indexOf("r") ?? -1;
      if (fields && i >= 0 && fields[i + 1] !== undefined) out.push({ id, receivedId: fields[i + 1]! });
    }
    return out;
  }

  heartbeat(job: Job): Promise<boolean> {
    return this.call(async () => (await this.redis.eventhosHeartbeat(this.stream, GROUP, this.consumer, job.id)) === 1);
  }

  ack(job: Job): Promise<void> {
    return this.call(async () => {
      await this.redis.multi().xack(this.stream, GROUP, job.id).xdel(this.stream, job.id).exec();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Ends a blocked XREADGROUP at once.
    this.blocking.disconnect();
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}
