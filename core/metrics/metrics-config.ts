/** The `metrics` section of the configuration: what /metrics exposes and where. */
export interface MetricsConfig {
  /** Collect and serve no metrics at all: no /metrics, nothing counted or timed on any call. */
  disabled: boolean;
  /** A port of its own serving /metrics only (the same --host and TLS); undefined: only on the HTTP port. */
  port: number | undefined;
  /** Per-app series for at most this many app ids (the first seen; the rest count as `other`); 0: none. */
  appLabels: number;
  /** Time every Redis command (ioredis's tracing channel; costs a little on every command). */
  redisCommands: boolean;
}

export const defaultMetricsConfig: MetricsConfig = {
  disabled: false,
  port: undefined,
  appLabels: 0,
  redisCommands: false,
};
