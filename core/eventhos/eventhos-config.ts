/** The `eventhos` section of the configuration: client tokens, the admin routes, contract delivery. */
export interface EventhosConfig {
  /** HS256 secret of client tokens, shared by every instance; unset: generated once (in Redis, or per process embedded). */
  tokenSecret: string | undefined;
  /** Lifetime of a client token from /auth/token (seconds). */
  tokenTtlSeconds: number;
  /** Failed token requests one client id may make in a burst (then refused until some refill). */
  tokenFailureBurst: number;
  /** Time for one more failed token request of a client id to be allowed (ms). */
  tokenFailureRefillMs: number;
  /** Client secrets hashed (scrypt) at once, per instance. */
  tokenHashConcurrency: number;
  /** Token requests waiting for a hash; past it they are refused as busy at once. */
  tokenHashQueue: number;

  /** A contract's HTTP call not finished within this time fails (ms). */
  callTimeoutMs: number;
  /** Automatic retries of a failed call (attempts = 1 + this). */
  retryLimit: number;
  /** First retry delay; doubles each retry (ms). */
  backoffBaseMs: number;
  /** Longest retry delay (ms). */
  backoffMaxMs: number;
  /** Received events whose contracts one instance runs at once. */
  concurrency: number;
  /** Queued work whose instance has been silent this long is taken over by another (ms). */
  claimIdleMs: number;
  /** How long received events and their execution log are kept (ms). */
  logRetentionMs: number;
  /** Bytes of each request and response body kept in the execution log. */
  logBodyBytes: number;
  /**
   * Embedded: most received events kept in memory with their executions (beyond, those longest
   * finished are dropped; pending ones stay). In Redis the retention alone bounds the log.
   */
  logMaxReceived: number;
  /**
   * Host names, IP addresses and CIDR ranges (comma-separated) that contracts may call although
   * they are loopback, private, link-local or otherwise not public (refused by default).
   */
  allowHosts: string;
}

export const defaultEventhosConfig: EventhosConfig = {
  tokenSecret: undefined,
  tokenTtlSeconds: 3600,
  tokenFailureBurst: 10,
  tokenFailureRefillMs: 6_000,
  // libuv has 4 threads, shared with file and DNS work; a hash takes one for ~50 ms.
  tokenHashConcurrency: 2,
  tokenHashQueue: 8,
  callTimeoutMs: 10_000,
  retryLimit: 5,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  concurrency: 32,
  claimIdleMs: 30_000,
  logRetentionMs: 7 * 24 * 60 * 60 * 1000,
  logBodyBytes: 16 * 1024,
  // With attempts' headers and bodies, an event is a few KB of heap: tens of MB at this count.
  logMaxReceived: 10_000,
  allowHosts: "",
};
