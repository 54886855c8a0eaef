import type { PushChannel, PushProvider } from "../gen/herald/v1/push_pb.js";

/**
 * The push providers of each app (APNs, FCM, Web Push credentials), one per channel, private keys
 * included: the RPC layer strips them from what it returns.
 *
 * Guarantees (test/suites/store-suite.ts checks them against every implementation):
 * - `set` replaces the app's provider of the same channel; values returned are copies.
 * - `list` gives the app's providers in channel order; `get` one of them.
 * - A change is seen by the next call on any instance that shares the backend.
 * - When the backing service is unreachable, calls reject with an `UnavailableError` promptly.
 */
export interface PushProviderStore {
  set(provider: PushProvider): Promise<void>;
  get(appId: string, channel: PushChannel): Promise<PushProvider | undefined>;
  list(appId: string): Promise<PushProvider[]>;
  /** False when the app had no provider of that channel. */
  clear(appId: string, channel: PushChannel): Promise<boolean>;
  /** Drops every provider of the app (the app was deleted). */
  clearApp(appId: string): Promise<void>;
}
