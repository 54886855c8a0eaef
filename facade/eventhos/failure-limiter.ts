/** Keys tracked at most: beyond, the least recently failed go first (bounded memory whatever is tried). */
const MAX_TRACKED = 100_000;

/**
 * Failed attempts per key (a remote address) as a token bucket: `burst` failures at once, then
 * one more every `refillMs`. `allowed` is false while a key has none left.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  allowed(key: string): boolean {
    const bucket = this.refilled(key);
    return !bucket || bucket.tokens >= 1;
  }

  failed(key: string): void {
    const bucket = this.refilled(key) ?? { tokens: this.burst, at: this.now() };
    bucket.tokens -= 1;
    this.buckets.delete(key); // re-inserted last: the map's order is least recently failed first
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_TRACKED) this.buckets.delete(this.buckets.keys().next().value!);
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
