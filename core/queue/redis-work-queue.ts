import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { asUnavailable, connectClient, readyAll, type RedisConnection, type RedisClient } from "../redis/connect.js";
import { defineScripts, type Script } from "../redis/scripts.js";
import type { Job, QueueDepth, WorkQueue, WorkQueueOptions } from "./work-queue.js";

export interface RedisWorkQueueOptions extends WorkQueueOptions, RedisConnection {
  /** The stream's key (keys.ts). */
  stream: string;
  /** The consumer group every instance reads in. */
  group: string;
  /** What the connections are for, in logs. */
  role: string;
}

/** The entry field holding a job's value (`r`: it first held received event ids; entries already queued keep it). */
const VALUE_FIELD = "r";

type StreamEntry = [id: string, fields: string[] | null];

/**
 * The work queue as a Redis Stream with one consumer group: XREADGROUP
 * hands each entry to one consumer, XAUTOCLAIM gives entries idle longer than `claimIdleMs` to
 * another (their owner died), the owner's heartbeat keeps them from idling, and XACK + XDEL in
 * one script end them, so the stream holds only unfinished work.
 */
export class RedisWorkQueue implements WorkQueue {
  readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private closed = false;
  private lastClaimMs = 0;

  private constructor(
    private readonly options: RedisWorkQueueOptions,
    private readonly redis: RedisClient,
    private readonly heartbeatScript: Script,
    private readonly ackScript: Script,
    /** XREADGROUP BLOCK holds its connection: a connection of its own. */
    private readonly blocking: RedisClient,
  ) {}

  static async connect(options: RedisWorkQueueOptions): Promise<RedisWorkQueue> {
    // Auto-pipelined: the adds and acks of concurrent sends and jobs share round trips.
    const redis = connectClient({ ...options, role: options.role }, { enableAutoPipelining: true });
    const { "queue-heartbeat": heartbeat, "queue-ack": ack } = defineScripts(redis, ["queue-heartbeat", "queue-ack"]);
    const blocking = connectClient({
      ...options,
      role: `${options.role}-read`,
      commandTimeoutMs: options.commandTimeoutMs + options.blockMs,
    });
    await readyAll(redis, blocking);
    const queue = new RedisWorkQueue(options, redis, heartbeat, ack, blocking);
    try {
      await queue.ensureGroup();
    } catch (err) {
      await queue.close();
      throw asUnavailable(err);
    }
    return queue;
  }

  private async ensureGroup(): Promise<void> {
    await this.redis.xgroup("CREATE", this.options.stream, this.options.group, "0", "MKSTREAM").catch((err: unknown) => {
      if (!String(err).includes("BUSYGROUP")) throw err;
    });
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    return f().catch(async (err: unknown) => {
      if (String(err).includes("NOGROUP")) await this.ensureGroup().catch(() => undefined);
      throw asUnavailable(err);
    });
  }

  add(value: string): Promise<void> {
    return this.call(async () => {
      await this.redis.xadd(this.options.stream, "*", VALUE_FIELD, value);
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
        this.redis.xautoclaim(this.options.stream, this.options.group, this.consumer, this.options.claimIdleMs, "0-0", "COUNT", max),
      )) as [string, StreamEntry[], string[]?];
      jobs.push(...this.jobs(entries));
      // Entries deleted while pending (Redis 7 lists them): nothing to do, settle them.
      if (deleted.length > 0) await this.call(() => this.redis.xack(this.options.stream, this.options.group, ...deleted));
    }
    if (jobs.length >= max) return jobs;
    try {
      const res = (await this.blocking.xreadgroup(
        "GROUP",
        this.options.group,
        this.consumer,
        "COUNT",
        max - jobs.length,
        // With claimed work in hand, do not wait for more.
        "BLOCK",
        jobs.length > 0 ? 1 : this.options.blockMs,
        "STREAMS",
        this.options.stream,
        ">",
      )) as Array<[string, StreamEntry[]]> | null;
      jobs.push(...this.jobs(res?.[0]?.[1] ?? []));
    } catch (err) {
      if (this.closed) return jobs;
      if (String(err).includes("NOGROUP")) await this.ensureGroup();
      else throw asUnavailable(err);
    }
    return jobs;
  }

  private jobs(entries: StreamEntry[]): Job[] {
    const out: Job[] = [];
    for (const [id, fields] of entries) {
      const i = fields?.indexOf(VALUE_FIELD) ?? -1;
      if (fields && i >= 0 && fields[i + 1] !== undefined) out.push({ id, value: fields[i + 1]! });
    }
    return out;
  }

  heartbeat(job: Job): Promise<boolean> {
    return this.call(
      async () => (await this.heartbeatScript.run<number>([this.options.stream], [this.options.group, this.consumer, job.id])) === 1,
    );
  }

  ack(job: Job): Promise<void> {
    return this.call(async () => {
      await this.ackScript.run([this.options.stream], [this.options.group, job.id]);
    });
  }

  /** Acknowledged entries are deleted: the stream's length is the depth, its first id the oldest's time. */
  depth(): Promise<QueueDepth> {
    return this.call(async () => {
      const [jobs, first] = await Promise.all([
        this.redis.xlen(this.options.stream),
        this.redis.xrange(this.options.stream, "-", "+", "COUNT", 1),
      ]);
      const id = first[0]?.[0];
      return { jobs, oldestAgeMs: id ? Math.max(0, Date.now() - Number(id.slice(0, id.indexOf("-")))) : 0 };
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
