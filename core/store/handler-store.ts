import type { EventHandler } from "../gen/herald/v1/handler_pb.js";

/**
 * Event handlers (XMS) and the cursors of their streams.
 *
 * Guarantees (test/suites/store-suite.ts checks them against every implementation):
 * - Handlers live under their app id, which need not be a registered app (deleting the app leaves
 *   them): `getHandler` with another app id finds nothing. `listHandlers` is in creation order.
 * - `createHandler` refuses (undefined) when the app already has `maxPerApp` handlers.
 * - `replaceHandler` is a compare-and-set: it writes only if the stored revision is the new one's
 *   minus one, so concurrent updates on different instances never lose one another.
 * - A handler's cursor (the offset its streams delivered up to) only moves forward, and goes with
 *   the handler.
 * - When the backing service is unreachable, calls reject with an `UnavailableError` promptly.
 */
export interface HandlerStore {
  /** `cursor`: where a first stream of the handler starts (the app's latest offset now). */
  createHandler(handler: EventHandler, cursor: bigint, maxPerApp: number): Promise<EventHandler | undefined>;
  getHandler(appId: string, id: string): Promise<EventHandler | undefined>;
  listHandlers(appId: string): Promise<EventHandler[]>;
  /** False when the stored revision is not `handler.revision - 1` (or the handler is gone). */
  replaceHandler(handler: EventHandler): Promise<boolean>;
  /** The handler as it was, undefined if there was none. */
  deleteHandler(appId: string, id: string): Promise<EventHandler | undefined>;
  /** Keeps the greater of the stored cursor and `offset`; nothing when the handler is gone. */
  advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void>;
  /** 0 when the handler is gone. */
  handlerCursor(appId: string, id: string): Promise<bigint>;
}
