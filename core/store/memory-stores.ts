import type { Stores } from "./stores.js";
import type { StoreConfig } from "./store-config.js";
import { MemoryRegistryStore } from "./memory-registry-store.js";
import { MemoryStatusStore } from "./memory-status-store.js";
import { MemoryHandlerStore } from "./memory-handler-store.js";
import { MemoryApiKeyStore } from "./memory-api-key-store.js";
import { MemoryPushProviderStore } from "./memory-push-provider-store.js";

/** The embedded stores: this process only, nothing kept across restarts. */
export function memoryStores(config: Pick<StoreConfig, "messageStatusTtlMs" | "messageStatusMax">): Stores {
  return {
    registry: new MemoryRegistryStore(),
    status: new MemoryStatusStore(config),
    handlers: new MemoryHandlerStore(),
    apiKeys: new MemoryApiKeyStore(),
    pushProviders: new MemoryPushProviderStore(),
    close: async () => undefined,
  };
}
