/**
 * A durable queue of work, each job a string value (eventhos: one received event id per job).
 *
 * Guarantees (test/suites/work-queue-suite.ts checks them against every implementation):
 * - A job added is handed to one consumer at a time: `take` on any queue of the same backend
 *   returns it once, until its owner has been silent (no `heartbeat`) for `claimIdleMs`; then the
 *   next `take` of any consumer claims it.
 * - `heartbeat` keeps a job owned and says whether the caller still owns it.
 * - An acknowledged job is never handed out again.
 * - `take` waits at most `blockMs` for work and returns early when the queue is closed.
 * - `depth` counts the jobs added and not acknowledged, on every queue of the backend alike.
 */
export interface WorkQueue {
  add(value: string): Promise<void>;
  take(max: number): Promise<Job[]>;
  heartbeat(job: Job): Promise<boolean>;
  ack(job: Job): Promise<void>;
  /** Jobs not yet acknowledged (waiting or running) and how long the oldest has waited. */
  depth(): Promise<QueueDepth>;
  close(): Promise<void>;
}

export interface QueueDepth {
  jobs: number;
  /** Age of the oldest job not yet acknowledged (ms); 0 when there is none. */
  oldestAgeMs: number;
}

export interface Job {
  /** The queue's own id of the entry. */
  id: string;
  value: string;
}

export interface WorkQueueOptions {
  /** A job whose owner has been silent this long is handed to another consumer (ms). */
  claimIdleMs: number;
  /** Longest wait of one `take` (ms). */
  blockMs: number;
}
