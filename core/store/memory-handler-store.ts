import { clone } from "@bufbuild/protobuf";
import { EventHandlerSchema, type EventHandler } from "../gen/herald/v1/handler_pb.js";
import type { HandlerStore } from "./handler-store.js";

/** Event handlers in this process. */
export class MemoryHandlerStore implements HandlerStore {
  /** By app id, then handler id (insertion order is creation order). */
  private readonly handlers = new Map<string, Map<string, { handler: EventHandler; cursor: bigint }>>();

  async createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined> {
    let app = this.handlers.get(handler.appId);
    if (!app) this.handlers.set(handler.appId, (app = new Map()));
    if (app.size >= maxPerApp || app.has(handler.id)) return undefined;
    app.set(handler.id, { handler: clone(EventHandlerSchema, handler), cursor });
    return clone(EventHandlerSchema, handler);
  }

  async getHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    const entry = this.handlers.get(appId)?.get(id);
    return entry && clone(EventHandlerSchema, entry.handler);
  }

  async listHandlers(appId: string): Promise<EventHandler[]> {
    return [...(this.handlers.get(appId)?.values() ?? [])].map((e) => clone(EventHandlerSchema, e.handler));
  }

  async replaceHandler(handler: EventHandler): Promise<boolean> {
    const entry = this.handlers.get(handler.appId)?.get(handler.id);
    if (!entry || entry.handler.revision !== handler.revision - 1n) return false;
    entry.handler = clone(EventHandlerSchema, handler);
    return true;
  }

  async deleteHandler(appId: string, id: string): Promise<EventHandler | undefined> {
    const app = this.handlers.get(appId);
    const entry = app?.get(id);
    if (!app || !entry) return undefined;
    app.delete(id);
    if (app.size === 0) this.handlers.delete(appId);
    return entry.handler;
  }

  async advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void> {
    const entry = this.handlers.get(appId)?.get(id);
    if (entry && offset > entry.cursor) entry.cursor = offset;
  }

  async handlerCursor(appId: string, id: string): Promise<bigint> {
    return this.handlers.get(appId)?.get(id)?.cursor ?? 0n;
  }
}
