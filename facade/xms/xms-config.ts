/** The `xms` section of the configuration: Dialogic XMS event streams. */
export interface XmsConfig {
  /** Interval of `keepalive` events on an open stream (ms). */
  keepaliveMs: number;
}

export const defaultXmsConfig: XmsConfig = { keepaliveMs: 30_000 };
