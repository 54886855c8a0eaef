import type { ApiKeyStore } from "./api-key-store.js";
import type { HandlerStore } from "./handler-store.js";
import type { RegistryStore } from "./registry-store.js";
import type { StatusStore } from "./status-store.js";

/** The core's three stores, of one backend; `close` closes what they share. */
export interface Stores {
  registry: RegistryStore;
  status: StatusStore;
  handlers: HandlerStore;
  apiKeys: ApiKeyStore;
  close(): Promise<void>;
}
