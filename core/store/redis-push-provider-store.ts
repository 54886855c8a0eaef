import type { Redis } from "ioredis";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type PushChannel, type PushProvider, PushProviderSchema } from "../gen/herald/v1/push_pb.js";
import { orUnavailable } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import { buf, bytes } from "../redis/buffers.js";
import { pushChannelOf } from "./push-channel-of.js";
import type { PushProviderStore } from "./push-provider-store.js";

/** Push providers in Redis: one hash per app, channel number → provider (protobuf). */
export class RedisPushProviderStore implements PushProviderStore {
  constructor(
    private readonly redis: Redis,
    private readonly k: RedisKeys,
  ) {}

  set(provider: PushProvider): Promise<void> {
    return orUnavailable(async () => {
      await this.redis.hset(
        this.k.pushProviders(provider.appId),
        String(pushChannelOf(provider)),
        buf(toBinary(PushProviderSchema, provider)),
      );
    });
  }

  get(appId: string, channel: PushChannel): Promise<PushProvider | undefined> {
    return orUnavailable(async () => {
      const b = await this.redis.hgetBuffer(this.k.pushProviders(appId), String(channel));
      return b ? fromBinary(PushProviderSchema, bytes(b)) : undefined;
    });
  }

  list(appId: string): Promise<PushProvider[]> {
    return orUnavailable(async () => {
      const all = await this.redis.hgetallBuffer(this.k.pushProviders(appId));
      return Object.entries(all)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([, v]) => fromBinary(PushProviderSchema, bytes(v)));
    });
  }

  clear(appId: string, channel: PushChannel): Promise<boolean> {
    return orUnavailable(async () => (await this.redis.hdel(this.k.pushProviders(appId), String(channel))) > 0);
  }

  clearApp(appId: string): Promise<void> {
    return orUnavailable(async () => {
      await this.redis.del(this.k.pushProviders(appId));
    });
  }
}
