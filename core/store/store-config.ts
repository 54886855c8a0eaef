/** The `store` section of the configuration: what the stores keep, and for how long. */
export interface StoreConfig {
  /** How long the delivery status of a request id is kept after its first message (ms). */
  messageStatusTtlMs: number;
  /** Embedded only: most request ids whose delivery status is kept; the oldest go first. */
  messageStatusMax: number;
  /** Redis only: registry values kept near, kept true by Redis key tracking; 0 reads Redis every time. */
  registryCacheMax: number;
}

export const defaultStoreConfig: StoreConfig = {
  messageStatusTtlMs: 24 * 60 * 60 * 1000,
  messageStatusMax: 100_000,
  registryCacheMax: 100_000,
};
