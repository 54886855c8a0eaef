import { clone } from "@bufbuild/protobuf";
import { type PushChannel, type PushProvider, PushProviderSchema } from "../gen/herald/v1/push_pb.js";
import { pushChannelOf } from "./push-channel-of.js";
import type { PushProviderStore } from "./push-provider-store.js";

/** Push providers in this process (embedded mode). */
export class MemoryPushProviderStore implements PushProviderStore {
  private readonly byApp = new Map<string, Map<PushChannel, PushProvider>>();

  async set(provider: PushProvider): Promise<void> {
    let of = this.byApp.get(provider.appId);
    if (!of) this.byApp.set(provider.appId, (of = new Map()));
    of.set(pushChannelOf(provider), clone(PushProviderSchema, provider));
  }

  async get(appId: string, channel: PushChannel): Promise<PushProvider | undefined> {
    const p = this.byApp.get(appId)?.get(channel);
    return p && clone(PushProviderSchema, p);
  }

  async list(appId: string): Promise<PushProvider[]> {
    const of = this.byApp.get(appId);
    if (!of) return [];
    return [...of.entries()].sort(([a], [b]) => a - b).map(([, p]) => clone(PushProviderSchema, p));
  }

  async clear(appId: string, channel: PushChannel): Promise<boolean> {
    return this.byApp.get(appId)?.delete(channel) ?? false;
  }

  async clearApp(appId: string): Promise<void> {
    this.byApp.delete(appId);
  }
}
