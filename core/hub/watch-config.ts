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
  /** How often the position of open event handler streams is saved (ms); a crash may replay this much. */
  handlerCursorFlushMs: number;
}

export const defaultWatchConfig: WatchConfig = {
  historySize: 10_000,
  queueLimit: 1_000,
  queueBytes: 16 * 1024 * 1024,
  handlerCursorFlushMs: 1_000,
};
