import type { StopSignal } from "./job-stop.js";

/**
 * The wait before retry `retry` (1 for the first): base × 2^(retry-1), capped at max, with "equal
 * jitter" (half fixed, half random) so that instances retrying a recovered target do not stampede.
 */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** Resolves after `ms`, or at once (false) when `signal` aborts. */
export function wait(ms: number, signal: StopSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (waited: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(waited);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", onAbort);
  });
}
