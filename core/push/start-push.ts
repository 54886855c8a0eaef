import type { Content } from "../gen/herald/v1/event_pb.js";
import type { PushOptions } from "../gen/herald/v1/hub_pb.js";
import type { Logger } from "../logger.js";
import { OutboundGuard } from "../eventhos/outbound-guard.js";
import { MemoryWorkQueue } from "../queue/memory-work-queue.js";
import { RedisWorkQueue } from "../queue/redis-work-queue.js";
import type { QueueDepth, WorkQueue } from "../queue/work-queue.js";
import type { RedisConnection } from "../redis/connect.js";
import { redisKeys } from "../redis/keys.js";
import type { Stores } from "../store/stores.js";
import { ApnsSender } from "./apns-sender.js";
import { FcmSender } from "./fcm-sender.js";
import { GuardedHttp } from "./guarded-http.js";
import type { PushConfig } from "./push-config.js";
import { PushEngine } from "./push-engine.js";
import type { PushSender } from "./push-sender.js";
import { WebPushSender } from "./web-push-sender.js";

/** Longest wait of one queue read; bounds how long a stop waits for the reader. */
const QUEUE_BLOCK_MS = 1000;

/** A published message, as the hub hands it over for delivery to devices. */
export interface PublishedMessage {
  appId: string;
  requestId: string;
  msgId: string;
  /** The ksids targeted; empty for a broadcast. */
  ksids: readonly string[];
  broadcast: boolean;
  /** A broadcast's os type filter ("" for all). */
  osType: string;
  eventId: string;
  content: Content | undefined;
  options: PushOptions | undefined;
}

/** What the hub sees of push delivery. */
export interface PushDispatch {
  /**
   * Queues the message's pushes when its app has push providers (a cached look-up otherwise: no
   * cost to apps without). Rejects when the queue cannot be written.
   */
  dispatch(message: PublishedMessage): Promise<void>;
}

export interface Push extends PushDispatch {
  engine: PushEngine;
  /** Unfinished push jobs (the metrics read it). */
  queueDepth(): Promise<QueueDepth>;
  close(): Promise<void>;
}

/** Push delivery: the senders, the queue (Redis when `redis` is given), the engine. */
export async function startPush(deps: {
  config: PushConfig;
  redis: RedisConnection | undefined;
  stores: Pick<Stores, "registry" | "status" | "pushProviders">;
  logger: Logger;
}): Promise<Push> {
  const { config, redis, stores, logger } = deps;
  const guard = new OutboundGuard(config.allowHosts, undefined, "--push-allow-hosts");
  const http = new GuardedHttp(guard, config.callTimeoutMs);
  const senders: Array<PushSender<never>> = [
    new ApnsSender(
      {
        productionUrl: config.apnsUrl,
        sandboxUrl: config.apnsSandboxUrl,
        connections: config.apnsConnections,
        timeoutMs: config.callTimeoutMs,
      },
      guard,
    ),
    new FcmSender({ baseUrl: config.fcmUrl, tokenUrl: config.fcmTokenUrl }, http),
    new WebPushSender(http),
  ];
  const queueOptions = { claimIdleMs: config.claimIdleMs, blockMs: Math.min(QUEUE_BLOCK_MS, config.claimIdleMs) };
  const queue: WorkQueue = redis
    ? await RedisWorkQueue.connect({
        ...redis,
        ...queueOptions,
        stream: redisKeys(redis.keyPrefix).pushDeliveries,
        group: "pushers",
        role: "push-queue",
      })
    : new MemoryWorkQueue(queueOptions);
  const engine = new PushEngine(
    { queue, registry: stores.registry, providers: stores.pushProviders, status: stores.status, senders, logger },
    config,
  );
  engine.start();
  return {
    engine,
    async dispatch(m) {
      if ((await stores.pushProviders.list(m.appId)).length === 0) return;
      const now = Date.now();
      const ttl = m.options?.ttlSeconds || config.ttlSeconds;
      await engine.enqueue({
        r: m.requestId,
        m: m.msgId,
        a: m.appId,
        k: [...m.ksids],
        b: m.broadcast,
        o: m.osType,
        t: m.options?.title ?? "",
        c: m.content?.data ?? "",
        p: m.content?.priority ?? false,
        e: now + ttl * 1000,
        x: m.options?.collapseId ?? "",
        v: m.eventId,
        q: now,
      });
    },
    queueDepth: () => queue.depth(),
    async close() {
      await engine.close();
      await http.close();
    },
  };
}
