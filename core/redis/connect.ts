import { Redis, ReplyError, type RedisOptions } from "ioredis";
import type { Logger } from "../logger.js";
import type { HeraldOptions } from "../config.js";

export interface RedisConnectOptions {
  url: string;
  /** What the connection is for, in logs. */
  role: string;
  logger: Logger;
  /** A command not answered within this time fails (ms). */
  commandTimeoutMs: number;
  /** Longest wait between reconnection attempts (ms). */
  maxReconnectDelayMs: number;
}

/** What every Redis-backed part of a process takes from its options. */
export function redisSettings(options: HeraldOptions & { redisUrl: string }, logger: Logger) {
  return {
    url: options.redisUrl,
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.redisCommandTimeoutMs,
    maxReconnectDelayMs: options.redisMaxReconnectDelayMs,
    logger,
  };
}

/**
 * A connection that fails fast while Redis is unreachable instead of queueing commands: callers
 * turn that into UNAVAILABLE, and a publish is never silently replayed later (no offline queue, no
 * resend of unfulfilled commands), so an acknowledged outcome is never doubled.
 */
export function connectRedis(
  options: RedisConnectOptions,
  extra: Omit<RedisOptions, "replyMapping"> = {},
): Redis {
  const { logger, role } = options;
  const redisOptions: Omit<RedisOptions, "replyMapping"> = {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), options.maxReconnectDelayMs),
    ...extra,
  };
  const redis = new Redis(options.url, redisOptions);
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down) logger.warn({ role, err: err.message }, "redis connection error");
    down = true;
  });
  redis.on("ready", () => {
    if (down) logger.info({ role }, "redis connection restored");
    down = false;
  });
  return redis;
}

/** Resolves once the connection is ready; rejects if it cannot connect at first. */
export async function ready(redis: Redis): Promise<void> {
  if (redis.status === "ready") return;
  await redis.connect();
}

/** Errors that say "Redis cannot answer now" rather than "this command is wrong". */
const transientReply = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Whether a failed call means Redis is unreachable or not ready (retry later): anything but a reply
 * from Redis (closed connection, no offline queue, timeout), and the replies of a Redis that is
 * loading or failing over.
 */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof ReplyError)) return true;
  return transientReply.test((err as Error).message);
}
