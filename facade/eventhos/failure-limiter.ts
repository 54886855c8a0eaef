/** Keys tracked at most: beyond, the least recently failed go first (bounded memory whatever is tried). */
const MAX_TRACKED = 100_000;

/**
 * Failed attempts per key (a remote address) as a token bucket: `burst` failures at once, then
 * one more every `refillMs`. An attempt reserves a failure when it starts and gives it back if it
 * succeeds: attempts in flight count, so a flood cannot overshoot the burst while hashes run.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reserves a failure of `key`; false (nothing reserved) when it has none left. */
  reserve(key: string): boolean {
    const bucket = this.refilled(key) ?? { tokens: this.burst, at: this.now() };
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    this.buckets.delete(key); // re-inserted last: the map's order is least recently failed first
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_TRACKED) this.buckets.delete(this.buckets.keys().next().value!);
    return true;
  }

  /** The attempt did not fail: its reservation is given back. */
  refund(key: string): void {
    const bucket = this.refilled(key);
    if (!bucket) return;
    bucket.tokens += 1;
    if (bucket.tokens >= this.burst) this.buckets.delete(key);
  }

  /** The key's bucket refilled up to now; undefined when full (no longer tracked). */
  private refilled(key: string): { tokens: number; at: number } | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    if (bucket.tokens >= this.burst) {
      this.buckets.delete(key);
      return undefined;
    }
    return bucket;
  }
}
