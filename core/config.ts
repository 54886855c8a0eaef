/** Every option of a Herald process, with one defaults object. Parsed from flags/env only in bin/. */
export interface HeraldOptions {
  /** Interface both servers bind to. */
  host: string;
  /** gRPC (grpc-js) port; 0 picks a free one. */
  grpcPort: number;
  /** HTTP port: the legacy facade plus Connect and gRPC-Web; 0 picks a free one. */
  httpPort: number;
  /** Redis URL; unset runs embedded (memory bus and store, one process). */
  redisUrl: string | undefined;
  /** Run only the HTTP facade, reaching the core over gRPC at this URL (http://host:port). */
  coreUrl: string | undefined;
  /** Prefix of every Redis key and channel. */
  keyPrefix: string;
  /** Registry seed file (YAML or JSON) loaded at start-up. */
  seedFile: string | undefined;
  /** Events kept per app for watchers that resume. */
  historySize: number;
  /** Events a watcher may have queued before it is ended as too slow. */
  watchQueueLimit: number;
  /** A Redis command not answered within this time fails (ms). */
  redisCommandTimeoutMs: number;
  /** Longest wait between Redis reconnection attempts (ms). */
  redisMaxReconnectDelayMs: number;
  /** How long the delivery status of a request id is kept after its first message (ms). */
  messageStatusTtlMs: number;
  /** Embedded only: most request ids whose delivery status is kept; the oldest go first. */
  messageStatusMax: number;
  /** Redis only: registry values (apps, events, subscriber lookups) kept near, kept true by Redis key tracking; 0 reads Redis every time. */
  registryCacheMax: number;
  /** How often the position of open event handler streams is saved (ms); a crash may replay this much. */
  handlerCursorFlushMs: number;
  /** XMS streams: interval of `keepalive` events (ms). */
  xmsKeepaliveMs: number;
  /** On SIGTERM, how long streams and calls get to finish before connections are cut (ms). */
  shutdownGraceMs: number;
  limits: Limits;
  logLevel: string;

  // eventhos facade and contract delivery (core/delivery, facade/eventhos)
  /** HS256 secret of client tokens, shared by every instance; unset: generated once (in Redis, or per process embedded). */
  tokenSecret: string | undefined;
  /** Lifetime of a client token from /auth/token (seconds). */
  tokenTtlSeconds: number;
  /** Bearer token of the eventhos admin routes; unset: the admin routes are off. */
  adminToken: string | undefined;
  /** A contract's HTTP call not finished within this time fails (ms). */
  deliveryCallTimeoutMs: number;
  /** Automatic retries of a failed call (attempts = 1 + this). */
  deliveryRetryLimit: number;
  /** First retry delay; doubles each retry (ms). */
  deliveryBackoffBaseMs: number;
  /** Longest retry delay (ms). */
  deliveryBackoffMaxMs: number;
  /** Received events whose contracts one instance runs at once. */
  deliveryConcurrency: number;
  /** Queued work whose instance has been silent this long is taken over by another (ms). */
  deliveryClaimIdleMs: number;
  /** How long received events and their execution log are kept (ms). */
  deliveryLogRetentionMs: number;
  /** Bytes of each request and response body kept in the execution log. */
  deliveryLogBodyBytes: number;
}

/** Input limits; anything larger is refused with INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for messages). */
export interface Limits {
  /** Largest request message accepted by the gRPC server (bytes). */
  maxMessageBytes: number;
  /** Most subscribers in one SendEvent/SendPush. */
  maxSubscribers: number;
  /** Most name pairs in one request. */
  maxNamePairs: number;
  /** Longest id, name, type or other short string field (characters). */
  maxFieldLength: number;
  /** Largest content.data (bytes, UTF-8). */
  maxContentBytes: number;
  /** Largest JSON payload (bytes, encoded). */
  maxPayloadBytes: number;
  /** Largest HTTP request body the facade reads (bytes); larger gets the contract's 413. */
  maxBodyBytes: number;
  /** Deepest nesting of a facade request body (JSON objects/arrays, XML elements). */
  maxBodyDepth: number;
  /** Most event handlers (XMS) one app id may hold. */
  maxHandlersPerApp: number;
  /** Most subscriptions one event handler may hold. */
  maxHandlerSubscriptions: number;
}

export const defaultLimits: Limits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxSubscribers: 10_000,
  maxNamePairs: 100,
  maxFieldLength: 256,
  maxContentBytes: 64 * 1024,
  maxPayloadBytes: 256 * 1024,
  maxBodyBytes: 1024 * 1024,
  maxBodyDepth: 32,
  maxHandlersPerApp: 1_000,
  maxHandlerSubscriptions: 100,
};

export const defaultOptions: HeraldOptions = {
  host: "0.0.0.0",
  grpcPort: 50051,
  httpPort: 8080,
  redisUrl: undefined,
  coreUrl: undefined,
  keyPrefix: "herald:",
  seedFile: undefined,
  historySize: 10_000,
  watchQueueLimit: 1_000,
  redisCommandTimeoutMs: 2_000,
  redisMaxReconnectDelayMs: 1_000,
  messageStatusTtlMs: 24 * 60 * 60 * 1000,
  messageStatusMax: 100_000,
  registryCacheMax: 100_000,
  handlerCursorFlushMs: 1_000,
  xmsKeepaliveMs: 30_000,
  shutdownGraceMs: 5_000,
  limits: defaultLimits,
  logLevel: "info",
  tokenSecret: undefined,
  tokenTtlSeconds: 3600,
  adminToken: undefined,
  deliveryCallTimeoutMs: 10_000,
  deliveryRetryLimit: 5,
  deliveryBackoffBaseMs: 1_000,
  deliveryBackoffMaxMs: 60_000,
  deliveryConcurrency: 32,
  deliveryClaimIdleMs: 30_000,
  deliveryLogRetentionMs: 7 * 24 * 60 * 60 * 1000,
  deliveryLogBodyBytes: 16 * 1024,
};
