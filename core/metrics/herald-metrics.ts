import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Where a stream's events go: the protocol of the call, or `xms` for an XMS event handler stream. */
export type StreamKind = "grpc" | "connect" | "grpc-web" | "xms" | "in-process";

/** A number kept by a component, read at scrape time: nothing is done per call for it. */
export type Reading = () => number;

export interface MetricsOptions {
  /**
   * Per-app series (events published, watchers open) for at most this many app ids, the first
   * seen; the rest count under `app="other"`. 0: no app label anywhere (the default: app ids are
   * unbounded input).
   */
  appLabels: number;
  /** Node process metrics (event loop lag, heap, GC, CPU): on in a server, off in tests. */
  processMetrics?: boolean;
}

/** Buckets in seconds for calls that take from tens of microseconds to seconds. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Every metric one Herald process exposes, in a registry of its own (two Heralds in one process,
 * as in the tests, do not share series). Label values are bounded: service and method names, gRPC
 * code names, stream kinds and end reasons, contract routes as declared (never the request path),
 * Redis command names; app ids only as `appLabels` allows. What is counted per call is a bound
 * child's `inc`/`observe` (no allocation); what components already keep is read when scraped.
 */
export class HeraldMetrics {
  readonly registry = new Registry();

  readonly rpcRequests = new Counter({
    name: "herald_rpc_requests_total",
    help: "RPCs handled, by service, method and gRPC status code (streams counted when they end)",
    labelNames: ["service", "method", "code"] as const,
    registers: [this.registry],
  });
  readonly rpcDuration = new Histogram({
    name: "herald_rpc_duration_seconds",
    help: "Time to answer a unary RPC, by service and method",
    labelNames: ["service", "method"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly rpcInFlight = new Gauge({
    name: "herald_rpc_in_flight",
    help: "Unary RPCs being handled now, by service and method",
    labelNames: ["service", "method"] as const,
    registers: [this.registry],
  });

  readonly watchers = new Gauge({
    name: "herald_watchers",
    help: "WatchEvents streams open, by kind (grpc, connect, grpc-web, xms event handler streams)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly eventsDelivered = new Counter({
    name: "herald_events_delivered_total",
    help: "Events written to WatchEvents streams, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly streamsEnded = new Counter({
    name: "herald_streams_ended_total",
    help: "WatchEvents streams ended, by kind and reason (cancel, SLOW_CONSUMER, SHUTTING_DOWN, HISTORY_EXPIRED, …)",
    labelNames: ["kind", "reason"] as const,
    registers: [this.registry],
  });

  readonly facadeRequests = new Counter({
    name: "herald_facade_requests_total",
    help: "Legacy HTTP requests, by contract, route and HTTP status",
    labelNames: ["contract", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly facadeDuration = new Histogram({
    name: "herald_facade_request_duration_seconds",
    help: "Time to answer a legacy HTTP request (long-held XMS streams excluded), by contract",
    labelNames: ["contract"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly redisCommandDuration = new Histogram({
    name: "herald_redis_command_duration_seconds",
    help: "Redis command latency as this process sees it, by command",
    labelNames: ["command"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly redisCommandErrors = new Counter({
    name: "herald_redis_command_errors_total",
    help: "Redis commands that failed (error reply, timeout, connection lost), by command",
    labelNames: ["command"] as const,
    registers: [this.registry],
  });
  readonly redisConnects = new Counter({
    name: "herald_redis_connects_total",
    help: "Connections made to Redis (a reconnection counts again), by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly appEventsPublished = new Counter({
    name: "herald_app_events_published_total",
    help: "Events and pushes published, by app (only with --metrics-app-labels)",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  private readonly apps = new Set<string>();

  constructor(readonly options: MetricsOptions) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** A legacy HTTP request answered (the facade's FacadeMetrics); `seconds` undefined: a long-held stream. */
  facadeRequest(contract: string, route: string, status: number, seconds: number | undefined): void {
    this.facadeRequests.inc({ contract, route, status: String(status) });
    if (seconds !== undefined) this.facadeDuration.observe({ contract }, seconds);
  }

  /** The app label of an app id: itself among the first `appLabels` seen, else `other`. */
  appLabel(appId: string): string {
    if (this.apps.has(appId)) return appId;
    if (this.apps.size < this.options.appLabels) {
      this.apps.add(appId);
      return appId;
    }
    return "other";
  }

  /** A counter whose value a component keeps (read when scraped). */
  counterOf(name: string, help: string, read: Reading): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** Counters by one label whose values a component keeps (read when scraped). */
  countersOf(name: string, help: string, label: string, read: () => Record<string, number>): void {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [value, n] of Object.entries(read())) this.inc({ [label]: value }, n);
      },
    });
  }

  /** A gauge read when scraped (synchronously or not). */
  gaugeOf(name: string, help: string, read: () => number | undefined | Promise<number | undefined>): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        const value = await read();
        if (value === undefined) this.reset();
        else this.set(value);
      },
    });
  }

  /** The exposition, in the Prometheus text format. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
