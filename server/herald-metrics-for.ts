import { Role } from "../core/gen/herald/v1/registry_pb.js";
import { HeraldMetrics } from "../core/metrics/herald-metrics.js";
import type { MetricsConfig } from "../core/metrics/metrics-config.js";
import type { RedisStats } from "../core/redis/connect.js";
import type { CacheStats } from "../core/redis/tracked-cache.js";
import type { Eventhos } from "../core/eventhos/start-eventhos.js";
import type { Push } from "../core/push/start-push.js";
import { type Authenticator, bearer } from "../core/auth/authenticator.js";
import { hasRole } from "../core/auth/principal.js";
import type { ScrapeCheck } from "./metrics-endpoint.js";
import type { FanOut } from "../core/hub/fan-out.js";

export interface MetricSources {
  fanOut: FanOut;
  redis: RedisStats | undefined;
  cache: CacheStats | undefined;
  eventhos: Eventhos;
  push: Push;
}

/** The metrics of a Herald process (what its components count is added by `readSources`). */
export function heraldMetricsFor(config: MetricsConfig): HeraldMetrics {
  return new HeraldMetrics({ appLabels: config.appLabels, processMetrics: true });
}

/** Adds what the components count themselves, read at scrape time. */
export function readSources(metrics: HeraldMetrics, sources: MetricSources): void {
  const { redis, cache, eventhos, fanOut, push } = sources;
  const fills = fanOut.stats;
  metrics.countersOf(
    "herald_history_fills_total",
    "Missed live events fetched from history, by cause: a gap in offsets, or a bus reconnection",
    "cause",
    () => ({
      gap: fills.gapFills,
      resync: fills.resyncFills,
    }),
  );
  metrics.counterOf(
    "herald_history_filled_events_total",
    "Events dispatched to watchers from history by those fills",
    () => fills.filledEvents,
  );
  metrics.counterOf(
    "herald_history_replays_total",
    "WatchEvents streams that began by replaying history (resume_after)",
    () => fills.replays,
  );
  metrics.gaugeOf(
    "herald_watch_queued_events",
    "Events waiting for their readers, over every watcher of this instance",
    () => fanOut.queued().events,
  );
  metrics.gaugeOf(
    "herald_watch_queued_bytes",
    "Bytes waiting for their readers (queued, or held unsent by the transport), over every watcher",
    () => fanOut.queued().bytes,
  );
  if (redis) {
    metrics.countersOf("herald_redis_connections_total", "Redis connections that became ready (first or again)", "kind", () => ({
      first: redis.connects - redis.reconnects,
      reconnect: redis.reconnects,
    }));
    metrics.counterOf("herald_redis_connection_errors_total", "Redis connection errors (refused, reset, timed out)", () => redis.errors);
  }
  if (cache) {
    metrics.countersOf("herald_registry_cache_reads_total", "Registry reads through the near cache, by result", "result", () => ({
      hit: cache.hits,
      miss: cache.misses,
    }));
    metrics.counterOf(
      "herald_registry_cache_invalidations_total",
      "Invalidation messages Redis sent the near cache",
      () => cache.invalidations,
    );
  }
  const { stats } = eventhos.engine;
  metrics.counterOf(
    "herald_eventhos_jobs_total",
    "Received events this instance took from the delivery queue to run their contracts",
    () => stats.jobs,
  );
  metrics.countersOf(
    "herald_eventhos_executions_total",
    "Contract executions that ended on this instance, by final state",
    "state",
    () => ({ ...stats.executions }),
  );
  metrics.countersOf("herald_eventhos_attempts_total", "Contract calls made by this instance, by outcome", "outcome", () => ({
    ...stats.attempts,
  }));
  metrics.gaugeOf(
    "herald_eventhos_queue_jobs",
    "Received events whose contracts are not all final yet (waiting or running)",
    async () => (await eventhos.queueDepth()).jobs,
  );
  metrics.gaugeOf(
    "herald_eventhos_queue_lag_seconds",
    "How long the oldest unfinished received event has waited",
    async () => (await eventhos.queueDepth()).oldestAgeMs / 1000,
  );
  metrics.countersByLabels(
    "herald_push_sends_total",
    "Calls this instance made to push services (APNs, FCM, Web Push), by channel and outcome (delivered, failed, unregistered, retried, expired)",
    ["channel", "outcome"],
    () =>
      [...push.engine.sends].map(([key, value]) => {
        const [channel = "", outcome = ""] = key.split("\0");
        return { labels: { channel, outcome }, value };
      }),
  );
  metrics.gaugeOf(
    "herald_push_queue_jobs",
    "Messages whose device pushes are not all final yet (waiting or running)",
    async () => (await push.queueDepth()).jobs,
  );
  metrics.gaugeOf(
    "herald_push_queue_lag_seconds",
    "How long the oldest unfinished push job has waited",
    async () => (await push.queueDepth()).oldestAgeMs / 1000,
  );
}

/** Who may scrape a core: anyone with access control off, else a credential with the admin role. */
export function scrapeCheckOf(auth: Authenticator): ScrapeCheck {
  return async (header) => {
    if (!auth.enabled) return true;
    if (header === undefined || header === "") return 401;
    try {
      return hasRole(await auth.ofCredential(bearer(header)), [Role.ADMIN]) ? true : 403;
    } catch {
      return 401;
    }
  };
}
