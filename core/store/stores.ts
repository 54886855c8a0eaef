import type { ApiKeyStore } from "./api-key-store.js";
import type { HandlerStore } from "./handler-store.js";
import type { RegistryStore } from "./registry-store.js";
import type { StatusStore } from "./status-store.js";
import type { PushProviderStore } from "./push-provider-store.js";
import type { CacheStats, TrackedCache } from "../redis/tracked-cache.js";

/** The core's three stores, of one backend; `close` closes what they share. */
export interface Stores {
  registry: RegistryStore;
  status: StatusStore;
  handlers: HandlerStore;
  apiKeys: ApiKeyStore;
  pushProviders: PushProviderStore;
  /** The registry's near cache counts (Redis with a cache); the metrics read them. */
  cacheStats?: CacheStats;
  /** That near cache, for the other Redis stores of the process (eventhos' clients and contracts). */
  nearCache?: TrackedCache;
  close(): Promise<void>;
}
