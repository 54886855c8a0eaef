import type { RedisClient } from "../redis/connect.js";
import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type PushChannel, type PushProvider, PushProviderSchema } from "../gen/herald/v1/push_pb.js";
import { orUnavailable } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import { buf, bytes } from "../redis/buffers.js";
import type { TrackedCache } from "../redis/tracked-cache.js";
import { pushChannelOf } from "./push-channel-of.js";
import type { PushProviderStore } from "./push-provider-store.js";

/**
 * Push providers in Redis: one hash per app, channel number → provider (protobuf). Every send of an
 * app looks its providers up: `list` goes through the registry's near cache (kept true by key
 * tracking), so an app without providers costs no round trip.
 */
export class RedisPushProviderStore implements PushProviderStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly k: RedisKeys,
    /** Absent: every read goes to Redis. */
    private readonly cache: TrackedCache | undefined,
  ) {}

  private async wrote<T>(key: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.cache?.invalidate([key]);
    }
  }

  set(provider: PushProvider): Promise<void> {
    const key = this.k.pushProviders(provider.appId);
    return orUnavailable(() =>
      this.wrote(key, async () => {
        await this.redis.hset(key, String(pushChannelOf(provider)), buf(toBinary(PushProviderSchema, provider)));
      }),
    );
  }

  get(appId: string, channel: PushChannel): Promise<PushProvider | undefined> {
    return orUnavailable(async () => {
      const b = await this.redis.hgetBuffer(this.k.pushProviders(appId), String(channel));
      return b ? fromBinary(PushProviderSchema, bytes(b)) : undefined;
    });
  }

  list(appId: string): Promise<PushProvider[]> {
    const key = this.k.pushProviders(appId);
    const fetch = async (r: RedisClient) => {
      const all = await r.hgetallBuffer(key);
      return Object.freeze(
        Object.entries(all)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([, v]) => fromBinary(PushProviderSchema, bytes(v))),
      );
    };
    // Cached values are shared: each caller gets copies.
    return orUnavailable(async () =>
      (this.cache ? await this.cache.read(key, "", fetch) : await fetch(this.redis)).map((p: PushProvider) => clone(PushProviderSchema, p)),
    );
  }

  clear(appId: string, channel: PushChannel): Promise<boolean> {
    const key = this.k.pushProviders(appId);
    return orUnavailable(() => this.wrote(key, async () => (await this.redis.hdel(key, String(channel))) > 0));
  }

  clearApp(appId: string): Promise<void> {
    const key = this.k.pushProviders(appId);
    return orUnavailable(() =>
      this.wrote(key, async () => {
        await this.redis.del(key);
      }),
    );
  }
}
