import { Cluster, Redis, ReplyError, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Logger } from "../logger.js";
import { UnavailableError } from "../unavailable-error.js";

export interface RedisConnectOptions {
  url: string;
  /** Redis Cluster startup nodes, `host:port,…`; set: connectClient makes a Cluster client. */
  cluster?: string | undefined;
  /** Sentinels, `host:port,…`; set: the master `masterName` is found through them (url unused). */
  sentinels?: string | undefined;
  /** The master's name in the Sentinels' configuration. */
  masterName?: string;
  /** What the connection is for, in logs. */
  role: string;
  logger: Logger;
  /** A command not answered within this time fails (ms). */
  commandTimeoutMs: number;
  /** Longest wait between reconnection attempts (ms). */
  maxReconnectDelayMs: number;
  /** Where the connection counts its connections and errors (metrics read it); absent: not counted. */
  stats?: RedisStats;
}

/** Counts kept by every connection of one process, read by the metrics when scraped. */
export interface RedisStats {
  /** Connections that became ready, reconnections included. */
  connects: number;
  /** Of those, the ones after a loss. */
  reconnects: number;
  /** Connection errors (refused, reset, timed out). */
  errors: number;
}

export const newRedisStats = (): RedisStats => ({ connects: 0, reconnects: 0, errors: 0 });

/** The `redis` section of the configuration: where Redis is and how calls to it behave. */
export interface RedisConfig {
  /** Redis URL; unset runs embedded (memory bus and stores, one process). */
  url: string | undefined;
  /** Prefix of every key and channel. */
  keyPrefix: string;
  /** A command not answered within this time fails (ms). */
  commandTimeoutMs: number;
  /** Longest wait between reconnection attempts (ms). */
  maxReconnectDelayMs: number;
  /** Redis Cluster startup nodes, `host:port,…` (any few of its nodes); set: Cluster mode. */
  cluster: string | undefined;
  /** Sentinels, `host:port,…`; set: Redis is the master `masterName` they name, followed across failovers. */
  sentinels: string | undefined;
  /** The master's name in the Sentinels' configuration. */
  masterName: string;
  /** Replicas that must have a send's writes before it is acknowledged (Redis WAIT); 0: no wait. */
  waitReplicas: number;
  /** Longest WAIT for those replicas (ms); fewer in time: the send answers UNAVAILABLE. */
  waitTimeoutMs: number;
}

export const defaultRedisConfig: RedisConfig = {
  url: undefined,
  keyPrefix: "herald:",
  commandTimeoutMs: 2_000,
  maxReconnectDelayMs: 1_000,
  cluster: undefined,
  sentinels: undefined,
  masterName: "mymaster",
  waitReplicas: 0,
  waitTimeoutMs: 1_000,
};

/** Whether a configuration names a Redis at all (a URL, a Cluster or Sentinels); else Herald runs embedded. */
export const hasRedis = (c: { url?: string | undefined; cluster?: string | undefined; sentinels?: string | undefined }): boolean =>
  !!(c.url || c.cluster || c.sentinels);

/** The Cluster startup nodes of a configuration: `--redis-cluster`, or a `redis+cluster://h:p,h:p` URL. */
export function clusterNodes(c: { url?: string | undefined; cluster?: string | undefined }): string | undefined {
  if (c.cluster) return c.cluster;
  const m = /^redis\+cluster:\/\/(.+?)\/?$/.exec(c.url ?? "");
  return m?.[1];
}

/** `host:port,host:port` as ioredis takes addresses. */
export function parseAddresses(list: string): Array<{ host: string; port: number }> {
  return list
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "")
    .map((a) => {
      const m = /^(.*):(\d+)$/.exec(a);
      if (!m) throw new RangeError(`"${a}" is not host:port`);
      return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
    });
}

/** A connection to one Redis (or the master Sentinels name), or a Cluster client. */
export type RedisClient = Redis | Cluster;

/** What every Redis-backed component takes: a Redis to reach, its key prefix, where to log. */
export interface RedisConnection
  extends Pick<RedisConfig, "keyPrefix" | "commandTimeoutMs" | "maxReconnectDelayMs">,
    Partial<Pick<RedisConfig, "cluster" | "sentinels" | "masterName" | "waitReplicas" | "waitTimeoutMs">> {
  /** "" in Cluster or Sentinel mode. */
  url: string;
  logger: Logger;
  stats?: RedisStats;
}

/**
 * A connection that fails fast while Redis is unreachable instead of queueing commands: callers
 * turn that into UNAVAILABLE, and a publish is never silently replayed later (no offline queue, no
 * resend of unfulfilled commands), so an acknowledged outcome is never doubled.
 */
export function connectRedis(options: RedisConnectOptions, extra: Omit<RedisOptions, "replyMapping"> = {}): Redis {
  const { logger, role, stats } = options;
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
  const redis = options.sentinels
    ? new Redis({
        sentinels: parseAddresses(options.sentinels),
        name: options.masterName ?? defaultRedisConfig.masterName,
        sentinelRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), options.maxReconnectDelayMs),
        // A master demoted to a replica answers writes with READONLY: reconnect, asking the
        // Sentinels again (the command itself fails: it is never resent).
        reconnectOnError: (err: Error) => (/^READONLY\b/.test(err.message) ? 1 : false),
        ...redisOptions,
      })
    : new Redis(options.url, redisOptions);
  watch(redis, logger, role, stats);
  return redis;
}

function watch(redis: RedisClient, logger: Logger, role: string, stats: RedisStats | undefined): void {
  let down = false;
  redis.on("error", (err: Error) => {
    if (stats) stats.errors++;
    if (!down) logger.warn({ role, err: err.message }, "redis connection error");
    down = true;
  });
  redis.on("ready", () => {
    if (stats) {
      stats.connects++;
      if (down) stats.reconnects++;
    }
    if (down) logger.info({ role }, "redis connection restored");
    down = false;
  });
}

/**
 * connectRedis, or in Cluster mode (`options.cluster`) a Cluster client with the same behaviour:
 * failing fast, never resending a command, following MOVED / ASK and failovers of the slots' masters.
 */
export function connectClient(options: RedisConnectOptions, extra: Omit<RedisOptions, "replyMapping"> = {}): RedisClient {
  const nodes = clusterNodes({ url: options.url, cluster: options.cluster });
  if (!nodes) return connectRedis(options, extra);
  const { enableAutoPipelining, ...nodeExtra } = extra;
  const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times, 10), options.maxReconnectDelayMs);
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: enableAutoPipelining ?? false,
    clusterRetryStrategy: backoff,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 50,
    slotsRefreshTimeout: Math.max(options.commandTimeoutMs, 1000),
    redisOptions: {
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs, 1000),
      ...nodeExtra,
    } as ClusterOptions["redisOptions"],
  };
  const cluster = new Cluster(parseAddresses(nodes), clusterOptions as ConstructorParameters<typeof Cluster>[1]);
  watch(cluster, options.logger, options.role, options.stats);
  return cluster;
}

/** Resolves once the connection is ready; rejects if it cannot connect at first. */
export async function ready(redis: RedisClient): Promise<void> {
  if (redis.status === "ready") return;
  await redis.connect();
}

/**
 * Connects all of a component's connections, or none: if one cannot connect, every one is
 * disconnected and the call rejects with UnavailableError.
 */
export async function readyAll(...connections: RedisClient[]): Promise<void> {
  try {
    await Promise.all(connections.map(ready));
  } catch (err) {
    for (const c of connections) c.disconnect();
    throw new UnavailableError(`cannot connect to Redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Runs Redis calls; a failure that means Redis cannot answer now (see isUnavailable) becomes UnavailableError. */
export async function orUnavailable<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw asUnavailable(err);
  }
}

/** The error itself, or an UnavailableError in its place when it means Redis cannot answer now. */
export function asUnavailable(err: unknown): unknown {
  if (err instanceof UnavailableError || !isUnavailable(err)) return err;
  return new UnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** Errors that say "Redis cannot answer now" rather than "this command is wrong". */
const transientReply = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * What ioredis rejects a command with when it could not reach Redis (no reply at all): a closed or
 * unwritable connection, a timeout, a cluster without a reachable node. Matched by message because
 * ioredis throws plain Errors for them.
 */
const noReply =
  /^(Connection is closed\.|Stream isn't writeable|Command timed out|Socket timeout|connect ETIMEDOUT|Connection is (discarded|aborted)|None of startup nodes is available|Cluster is (disconnected|disconnecting|ended)|Cluster isn't ready|Node is disconnected|No master node is available|Too many Cluster redirections|Failed to refresh slots cache)/;

/** Socket errors: the network, not the command, failed. */
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * Whether a failed call means Redis is unreachable or not ready (retry later): a connection failure
 * (closed, unwritable, timed out, aborted by a disconnection), or the reply of a Redis that is
 * loading or failing over. Anything else, a TypeError of ours included, is a bug and must surface as
 * one (INTERNAL, logged), never as a "retry later" that hides it.
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof ReplyError) return transientReply.test((err as Error).message);
  if (!(err instanceof Error)) return false;
  // redis-errors' AbortError (and ioredis' MaxRetriesPerRequestError): the command was dropped
  // because its connection closed.
  if (err.name === "AbortError" || err.name === "MaxRetriesPerRequestError") return true;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === "string" && networkCodes.has(code)) return true;
  return noReply.test(err.message);
}
