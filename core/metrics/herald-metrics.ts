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

export interface StreamStats {
  open: number;
  delivered: number;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** Durations counted into LATENCY_BUCKETS, in plain numbers (prom-client hashes labels on every observe). */
export class Latency {
  /** Per bucket (not cumulative), then the sum and count of the seconds. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  sum = 0;
  count = 0;

  took(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }

  /** The histogram series `name` of these durations, with `labels`. */
  series(name: string, labels: Record<string, string>): MetricValue[] {
    let cumulative = 0;
    const buckets = LATENCY_BUCKETS.map((le, i) => {
      cumulative += this.buckets[i]!;
      return { metricName: `${name}_bucket`, labels: { le, ...labels }, value: cumulative };
    });
    return [
      ...buckets,
      { metricName: `${name}_bucket`, labels: { le: "+Inf", ...labels }, value: this.count },
      { metricName: `${name}_sum`, labels, value: this.sum },
      { metricName: `${name}_count`, labels, value: this.count },
    ];
  }
}

/** What the calls of one method did, in plain numbers: a call costs a few additions and no label lookup. */
export class CallStats {
  readonly codes = new Map<string, number>();
  inFlight = 0;
  readonly latency = new Latency();

  constructor(
    readonly service: string,
    readonly method: string,
    readonly unary: boolean,
  ) {}

  ended(code: string): void {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }
}

/** Buckets in seconds for calls that take from tens of microseconds to seconds. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Every metric one Herald process exposes, in a registry of its own (two Heralds in one process,
 * as in the tests, do not share series). Label values are bounded: service and method names, gRPC
 * code names, stream kinds and end reasons, contract routes as declared (never the request path),
 * Redis command names; app ids only as `appLabels` allows. What is counted per call or request is a
 * plain number (CallStats, StreamStats, Latency), turned into series when scraped, as is what
 * components already keep.
 */
export class HeraldMetrics {
  readonly registry = new Registry();

  /** Per method: what its calls did, kept in plain numbers by `withMetrics`, turned into series when scraped. */
  private readonly calls: CallStats[] = [];
  private readonly streams = new Map<StreamKind, StreamStats>();

  readonly streamsEnded = new Counter({
    name: "herald_streams_ended_total",
    help: "WatchEvents streams ended, by kind and reason (cancel, SLOW_CONSUMER, SHUTTING_DOWN, HISTORY_EXPIRED, …)",
    labelNames: ["kind", "reason"] as const,
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
  readonly appEventsPublished = new Counter({
    name: "herald_app_events_published_total",
    help: "Events and pushes published, by app (only with --metrics-app-labels)",
    labelNames: ["app"] as const,
    registers: [this.registry],
  });

  /** Legacy requests by `contract route status`, and their latency by contract. */
  private readonly facade = new Map<string, { labels: { contract: string; route: string; status: string }; value: number }>();
  private readonly facadeLatency = new Map<string, Latency>();
  private readonly apps = new Set<string>();

  constructor(readonly options: MetricsOptions) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    const calls = this.calls;
    const perMethod = (name: string, help: string, type: "counter" | "gauge" | "histogram", values: () => MetricValue[]) =>
      this.registry.registerMetric({ name, get: async () => ({ name, help, type, aggregator: "sum", values: values() }) } as never);
    perMethod(
      "herald_rpc_requests_total",
      "RPCs handled, by service, method and gRPC status code (streams counted when they end)",
      "counter",
      () => calls.flatMap((c) => [...c.codes].map(([code, value]) => ({ labels: { service: c.service, method: c.method, code }, value }))),
    );
    const streams = this.streams;
    perMethod("herald_watchers", "WatchEvents streams open, by kind (grpc, connect, grpc-web, xms event handler streams)", "gauge", () =>
      [...streams].map(([kind, st]) => ({ labels: { kind }, value: st.open })),
    );
    perMethod("herald_events_delivered_total", "Events written to WatchEvents streams, by kind", "counter", () =>
      [...streams].map(([kind, st]) => ({ labels: { kind }, value: st.delivered })),
    );
    perMethod("herald_rpc_in_flight", "Unary RPCs being handled now, by service and method", "gauge", () =>
      calls.filter((c) => c.unary).map((c) => ({ labels: { service: c.service, method: c.method }, value: c.inFlight })),
    );
    perMethod("herald_rpc_duration_seconds", "Time to answer a unary RPC, by service and method", "histogram", () =>
      calls
        .filter((c) => c.unary && c.latency.count > 0)
        .flatMap((c) => c.latency.series("herald_rpc_duration_seconds", { service: c.service, method: c.method })),
    );
    const facade = this.facade;
    const facadeLatency = this.facadeLatency;
    perMethod("herald_facade_requests_total", "Legacy HTTP requests, by contract, route and HTTP status", "counter", () => [
      ...facade.values(),
    ]);
    perMethod(
      "herald_facade_request_duration_seconds",
      "Time to answer a legacy HTTP request (long-held XMS streams excluded), by contract",
      "histogram",
      () => [...facadeLatency].flatMap(([contract, latency]) => latency.series("herald_facade_request_duration_seconds", { contract })),
    );
  }

  /** The open streams and delivered events of one kind (plain numbers: an event costs one addition). */
  streamStats(kind: StreamKind): StreamStats {
    let stats = this.streams.get(kind);
    if (!stats) this.streams.set(kind, (stats = { open: 0, delivered: 0 }));
    return stats;
  }

  /** The counts of one method, kept by its wrapper (`withMetrics`) as plain numbers. */
  callStats(service: string, method: string, unary: boolean): CallStats {
    const stats = new CallStats(service, method, unary);
    this.calls.push(stats);
    return stats;
  }

  /** A legacy HTTP request answered (the facade's FacadeMetrics); `seconds` undefined: a long-held stream. */
  facadeRequest(contract: string, route: string, status: number, seconds: number | undefined): void {
    const key = `${contract} ${route} ${status}`;
    const series = this.facade.get(key);
    if (series) series.value++;
    else this.facade.set(key, { labels: { contract, route, status: String(status) }, value: 1 });
    if (seconds === undefined) return;
    let latency = this.facadeLatency.get(contract);
    if (!latency) this.facadeLatency.set(contract, (latency = new Latency()));
    latency.took(seconds);
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

  /** Counters by several labels whose values a component keeps (read when scraped): one row per label set. */
  countersByLabels(
    name: string,
    help: string,
    labels: readonly string[],
    read: () => Array<{ labels: Record<string, string>; value: number }>,
  ): void {
    new Counter({
      name,
      help,
      labelNames: [...labels],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const row of read()) this.inc(row.labels, row.value);
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
