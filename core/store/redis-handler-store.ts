import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EventHandlerSchema, type EventHandler } from "../gen/herald/v1/handler_pb.js";
import type { HandlerStore } from "./handler-store.js";
import { orUnavailable, type RedisClient } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import { defineScripts } from "../redis/scripts.js";
import { bytes, buf } from "../redis/buffers.js";

/**
 * Event handlers of app A in three hashes (keys.ts): handlers (id → EventHandler), handler-revs (id →
 * revision, for compare-and-set without decoding protobuf in Lua), handler-cursors (id → offset).
 * Each script touches one app's keys only.
 */
export class RedisHandlerStore implements HandlerStore {
  private readonly scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly k: RedisKeys,
  ) {
    this.scripts = defineScripts(redis, ["handler-create", "handler-replace", "handler-delete", "handler-cursor"]);
  }

  private handlerKeys(appId: string) {
    return [this.k.handlers(appId), this.k.handlerRevs(appId), this.k.handlerCursors(appId)] as const;
  }

  private decode(b: Buffer | null | undefined): EventHandler | undefined {
    return b ? fromBinary(EventHandlerSchema, bytes(b)) : undefined;
  }

  createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined> {
    return orUnavailable(async () => {
      const [h, r, c] = this.handlerKeys(handler.appId);
      const value = buf(toBinary(EventHandlerSchema, handler));
      const created = await this.scripts["handler-create"].run<number>(
        [h, r, c],
        [handler.id, value, String(handler.revision), String(cursor), maxPerApp],
      );
      return created === 1 ? create(EventHandlerSchema, handler) : undefined;
    });
  }

  getHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    return orUnavailable(async () => this.decode(await this.redis.hgetBuffer(this.k.handlers(appId), id)));
  }

  listHandlers(appId: string): Promise<EventHandler[]> {
    return orUnavailable(async () => {
      const values = await this.redis.hvalsBuffer(this.k.handlers(appId));
      const created = (x: EventHandler) => (x.created ? Number(x.created.seconds) * 1e9 + x.created.nanos : 0);
      return values
        .map((v) => fromBinary(EventHandlerSchema, bytes(v)))
        .sort((a, b) => created(a) - created(b) || a.id.localeCompare(b.id));
    });
  }

  replaceHandler(handler: EventHandler): Promise<boolean> {
    return orUnavailable(async () => {
      const [h, r] = this.handlerKeys(handler.appId);
      const value = buf(toBinary(EventHandlerSchema, handler));
      return (
        (await this.scripts["handler-replace"].run<number>(
          [h, r],
          [handler.id, value, String(handler.revision), String(handler.revision - 1n)],
        )) === 1
      );
    });
  }

  deleteHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    return orUnavailable(async () =>
      this.decode(await this.scripts["handler-delete"].runBuffer<Buffer | null>(this.handlerKeys(appId), [id])),
    );
  }

  advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void> {
    return orUnavailable(async () => {
      await this.scripts["handler-cursor"].run([this.k.handlers(appId), this.k.handlerCursors(appId)], [id, String(offset)]);
    });
  }

  handlerCursor(appId: string, id: string): Promise<bigint> {
    return orUnavailable(async () => BigInt((await this.redis.hget(this.k.handlerCursors(appId), id)) ?? "0"));
  }
}
