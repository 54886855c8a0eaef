import { Code } from "@connectrpc/connect";
import { heraldError } from "../rpc/errors.js";

export interface TokenGuardLimits {
  /** Failed token requests one client id may make in a burst; then one more per `failureRefillMs`. */
  failureBurst: number;
  /** Time for one failed attempt to be allowed again (ms). */
  failureRefillMs: number;
  /** Secret hashes (scrypt, ~50 ms of a libuv thread each) computed at once. */
  hashConcurrency: number;
  /** Token requests waiting for a hash slot; past it, BUSY at once. */
  hashQueue: number;
}

/** Client ids tracked at most: beyond, the fullest buckets go first (bounded memory whatever the ids tried). */
const MAX_TRACKED = 100_000;

/**
 * Protects token issuance from wrong-secret floods, which otherwise queue scrypt work on libuv's
 * four threads without bound (26 wrong secrets/s took a real token request from 0.3 to 5.7 s):
 * - failed attempts per client id are a token bucket: once spent, that id's requests are refused
 *   (RESOURCE_EXHAUSTED / TOO_MANY_ATTEMPTS) without hashing until it refills. An attempt reserves
 *   a failure as it starts and gives it back if it succeeds, so attempts in flight count too;
 * - hashing is a semaphore with a bounded queue: past it, RESOURCE_EXHAUSTED / BUSY at once.
 */
export class TokenGuard {
  private readonly failures = new Map<string, { tokens: number; at: number }>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limits: TokenGuardLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reserves a failed attempt of `clientId`; throws TOO_MANY_ATTEMPTS when it has none left. */
  reserve(clientId: string): void {
    const bucket = this.bucket(clientId) ?? { tokens: this.limits.failureBurst, at: this.now() };
    if (bucket.tokens < 1) {
      const retryMs = Math.ceil((1 - bucket.tokens) * this.limits.failureRefillMs);
      throw heraldError(
        Code.ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
        `too many failed token requests for client "${clientId}"; retry in ${retryMs} ms`,
        {
          retry_after_ms: String(retryMs),
        },
      );
    }
    bucket.tokens -= 1;
    this.failures.delete(clientId); // re-inserted last: the map's order is least recently failed first
    this.failures.set(clientId, bucket);
    if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
  }

  /** The attempt of `clientId` succeeded (or was not made): its reservation is given back. */
  refund(clientId: string): void {
    const bucket = this.bucket(clientId);
    if (!bucket) return;
    bucket.tokens += 1;
    if (bucket.tokens >= this.limits.failureBurst) this.failures.delete(clientId);
  }

  /** Runs `hash` when a slot is free; BUSY at once when the queue is full. */
  async hash<T>(hash: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.hashConcurrency) {
      if (this.waiting.length >= this.limits.hashQueue) {
        throw heraldError(Code.ResourceExhausted, "BUSY", "too many token requests at once; retry shortly", { retry_after_ms: "1000" });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await hash();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes straight to the next waiter
      else this.running--;
    }
  }

  /** The bucket of `clientId` refilled up to now; undefined when full (not tracked). */
  private bucket(clientId: string): { tokens: number; at: number } | undefined {
    const bucket = this.failures.get(clientId);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.limits.failureBurst, bucket.tokens + (now - bucket.at) / this.limits.failureRefillMs);
    bucket.at = now;
    if (bucket.tokens >= this.limits.failureBurst) {
      this.failures.delete(clientId);
      return undefined;
    }
    return bucket;
  }
}
