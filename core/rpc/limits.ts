/**
 * The `limits` section of the configuration: input limits. Anything larger is refused with
 * INVALID_ARGUMENT (RESOURCE_EXHAUSTED for a message over `maxMessageBytes`), or by the facade with
 * its contract's answer.
 */
export interface Limits {
  /** Largest request message accepted by the gRPC and Connect servers (bytes). */
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
  /** Most elements of a facade XML body (a flat megabyte of `<a/>` costs half a second to parse). */
  maxBodyElements: number;
  /**
   * HTTP port: most time to receive a whole request, headers and body (ms). A client trickling its
   * body is cut; a response may last longer (XMS event streams, Connect streams).
   */
  httpRequestTimeoutMs: number;
  /** HTTP port: most time to receive a request's headers (ms; at most httpRequestTimeoutMs). */
  httpHeadersTimeoutMs: number;
  /** HTTP port: most open connections; past it a new one is closed at once (0: no limit). */
  maxHttpConnections: number;
  /** gRPC port: most open connections; past it a new one is closed at once (0: no limit). */
  maxGrpcConnections: number;
  /** gRPC port: most calls open at once on one connection (0: no limit). */
  grpcMaxConcurrentStreams: number;
  /** Most event handlers (XMS) one app id may hold. */
  maxHandlersPerApp: number;
  /** Most subscriptions one event handler may hold. */
  maxHandlerSubscriptions: number;
  /**
   * Most messages one push request may carry (SendPushBatch, the Kony/Volt MX multi-message push).
   * Kept well below the watch queue limit: a request is published at once, and a live watcher of
   * the app must be able to queue all of it.
   */
  maxPushMessages: number;
  /** How long an idempotency key is remembered after its first send (ms). */
  idempotencyWindowMs: number;
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
  // Room for --max-subscribers subscriber elements and the rest of a request.
  maxBodyElements: 20_000,
  // A 1 MB body at a slow mobile 300 kbit/s takes ~27 s.
  httpRequestTimeoutMs: 30_000,
  httpHeadersTimeoutMs: 10_000,
  maxHttpConnections: 10_000,
  maxGrpcConnections: 10_000,
  grpcMaxConcurrentStreams: 1_000,
  maxHandlersPerApp: 1_000,
  maxHandlerSubscriptions: 100,
  maxPushMessages: 500,
  // A day, as Stripe: it outlives any client's retry policy (backoff, a job retried next morning)
  // and matches the delivery status TTL, which already keeps a record per message that long; a
  // key costs ~250-330 bytes of Redis more (measured), so high keyed rates may want less.
  idempotencyWindowMs: 24 * 60 * 60 * 1000,
};
