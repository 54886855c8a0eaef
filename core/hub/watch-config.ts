/** The `watch` section of the configuration: history and the streams that read it. */
export interface WatchConfig {
  /** Events kept per app for watchers that resume (the bus's history). */
  historySize: number;
  /** Events a watcher may have queued before it is ended as too slow. */
  queueLimit: number;
  /**
   * Bytes a watcher may have waiting (queued, plus taken by its transport and not yet written to
   * its socket) before it is ended as too slow.
   */
  queueBytes: number;
  /**
   * Deliveries of one event made in one turn of the event loop: an event for more watchers goes out
   * in slices, so sockets flush while the rest is written (the first watchers get it sooner, and
   * the process keeps serving other calls meanwhile).
   */
  fanOutSlice: number;
  /** Most events in one WatchEvents response of a stream that asks for batches (`max_batch`); capped at queueLimit. */
  maxBatch: number;
  /** How often the position of open event handler streams is saved (ms); a crash may replay this much. */
  handlerCursorFlushMs: number;
}

export const defaultWatchConfig: WatchConfig = {
  historySize: 10_000,
  queueLimit: 1_000,
  queueBytes: 16 * 1024 * 1024,
  fanOutSlice: 1_024,
  maxBatch: 256,
  handlerCursorFlushMs: 1_000,
};
