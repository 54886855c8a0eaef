import { randomUUID } from "node:crypto";
import { setTimeout } from "node:timers/promises";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { EventKind, EventSchema } from "../gen/herald/v1/event_pb.js";
import { EventHandlerSchema, EventSubscriptionSchema, type EventHandler, type EventSubscription } from "../gen/herald/v1/handler_pb.js";
import { SubscriptionAction, type RegistryService } from "../gen/herald/v1/registry_pb.js";
import type { Bus } from "../bus/bus.js";
import type { HandlerStore } from "../store/handler-store.js";
import { handlerNotFound, heraldError, invalidArgument } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";

type HandlerRpcs = Pick<
  ServiceImpl<typeof RegistryService>,
  "createEventHandler" | "getEventHandler" | "listEventHandlers" | "updateEventHandler" | "deleteEventHandler"
>;

/** Compare-and-set attempts of one update before it gives up with ABORTED. */
const UPDATE_ATTEMPTS = 20;
/** Longest random pause between attempts (ms): contenders spread out instead of colliding again. */
const UPDATE_BACKOFF_MAX_MS = 40;

/**
 * The event handler RPCs (XMS `eventhandlers`). Every change is stored first, then published in
 * the app's history as an EVENT_KIND_HANDLER event, so that every instance applies it to the
 * handler's open streams in order with the events around it: an event published after the reply
 * is already filtered the new way.
 */
export function createHandlerRegistry(deps: { handlers: HandlerStore; bus: Bus; validator: Validator }): HandlerRpcs {
  const { handlers: store, bus, validator: v } = deps;

  async function announce(handler: EventHandler, deleted: boolean): Promise<void> {
    const change = create(EventSchema, {
      appId: handler.appId,
      kind: EventKind.HANDLER,
      handlerChange: { handler, deleted },
      time: timestampNow(),
    });
    await bus.publish(handler.appId, toBinary(EventSchema, change));
  }

  function subscriptions(given: readonly EventSubscription[]): EventSubscription[] {
    v.handlerSubscriptions(given);
    const out: EventSubscription[] = [];
    for (const s of given) {
      const normal = normalise(s);
      if (!out.some((o) => same(o, normal))) out.push(normal);
    }
    return out;
  }

  return {
    async createEventHandler(req) {
      const appId = v.id("app_id", req.appId);
      if (req.subscriptions.length === 0) throw invalidArgument("at least one subscription is required");
      const handler = create(EventHandlerSchema, {
        id: randomUUID(),
        appId,
        subscriptions: subscriptions(req.subscriptions),
        revision: 1n,
        created: timestampNow(),
      });
      // A first stream starts from here: what is published after the reply reaches it.
      const { latest } = await bus.history(appId, 0n, 0);
      if (!(await store.createHandler(handler, latest, v.maxHandlersPerApp))) {
        throw heraldError(Code.ResourceExhausted, "HANDLER_LIMIT", `app "${appId}" already has ${v.maxHandlersPerApp} event handlers`);
      }
      return { handler };
    },

    async getEventHandler(req) {
      const appId = v.id("app_id", req.appId);
      const handler = await store.getHandler(appId, v.id("id", req.id));
      if (!handler) throw handlerNotFound(appId, req.id);
      return { handler };
    },

    async listEventHandlers(req) {
      return { handlers: await store.listHandlers(v.id("app_id", req.appId)) };
    },

    async updateEventHandler(req) {
      const appId = v.id("app_id", req.appId);
      const id = v.id("id", req.id);
      v.handlerSubscriptions(req.changes.map((c) => c.subscription ?? create(EventSubscriptionSchema)));
      for (const [i, c] of req.changes.entries()) {
        if (c.action !== SubscriptionAction.ADD && c.action !== SubscriptionAction.REMOVE) {
          throw invalidArgument(`changes[${i}].action must be ADD or REMOVE`);
        }
      }
      for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        const current = await store.getHandler(appId, id);
        if (!current) throw handlerNotFound(appId, id);
        const next = create(EventHandlerSchema, { ...current, revision: current.revision + 1n });
        for (const change of req.changes) {
          const s = normalise(change.subscription ?? create(EventSubscriptionSchema));
          const at = next.subscriptions.findIndex((o) => same(o, s));
          if (change.action === SubscriptionAction.ADD && at < 0) next.subscriptions.push(s);
          if (change.action === SubscriptionAction.REMOVE && at >= 0) next.subscriptions.splice(at, 1);
        }
        if (next.subscriptions.length > v.maxHandlerSubscriptions) {
          throw invalidArgument(`more than ${v.maxHandlerSubscriptions} subscriptions`);
        }
        // Published even when nothing changed: a client retrying after a failed publish repairs
        // the streams that missed it.
        if (await store.replaceHandler(next)) {
          await announce(next, false);
          return { handler: next };
        }
        await setTimeout(Math.random() * Math.min(UPDATE_BACKOFF_MAX_MS, 2 ** attempt));
      }
      throw heraldError(Code.Aborted, "CONFLICT", `event handler "${id}" is being changed concurrently; retry`);
    },

    async deleteEventHandler(req) {
      const appId = v.id("app_id", req.appId);
      const id = v.id("id", req.id);
      const deleted = await store.deleteHandler(appId, id);
      if (!deleted) throw handlerNotFound(appId, id);
      await announce(deleted, true);
      return {};
    },
  };
}

/** Empty attributes mean "any": stored as "any", so that identical subscriptions compare equal. */
function normalise(s: EventSubscription): EventSubscription {
  return create(EventSubscriptionSchema, {
    type: s.type || "any",
    resourceType: s.resourceType || "any",
    resourceId: s.resourceId || "any",
  });
}

function same(a: EventSubscription, b: EventSubscription): boolean {
  return a.type === b.type && a.resourceType === b.resourceType && a.resourceId === b.resourceId;
}
