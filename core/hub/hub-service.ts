import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "../timestamp.js";
import { ContentSchema, EventKind, type SubscriberRef } from "../gen/herald/v1/event_pb.js";
import type {
  HubService,
  GetMessageStatusRequest,
  SendEventRequest,
  SendPushRequest,
  WatchEventsRequest,
  WatchEventsResponse,
} from "../gen/herald/v1/hub_pb.js";
import type { App } from "../gen/herald/v1/registry_pb.js";
import type { Bus } from "../bus/bus.js";
import type { Stores } from "../store/stores.js";
import { encodeEvent, type EventFields } from "../bus/encode-event.js";
import { createWatchStreams } from "./watch-streams.js";
import type { FanOut } from "./fan-out.js";
import type { HandlerCursors } from "./handler-cursors.js";
import { appNotFound, heraldError, invalidArgument } from "../rpc/errors.js";
import { renderTemplate } from "./template.js";
import type { Validator } from "../rpc/validate.js";
import type { Logger } from "../logger.js";
import { mayTouch, principalOf, requireApp } from "../auth/principal.js";

export interface HubDeps {
  stores: Stores;
  bus: Bus;
  fanOut: FanOut;
  validator: Validator;
  /** History page size when a watcher resumes. */
  historyPage: number;
  /** Where event handler streams stopped. */
  cursors: HandlerCursors;
  logger: Logger;
  /** Told of each message published, by app (per-app metrics); absent: nobody is. */
  published?: (appId: string) => void;
}

/**
 * The envelope of a send, built once per call: `publish` fills in `targets` (ids are the bus's).
 * `request_id` as the sender gave it; empty: the status is kept under the msg id.
 */
type Envelope = EventFields & { targets: string[] };

interface Published {
  msgId: string;
  offset: bigint;
  invalidSubscribers: SubscriberRef[];
}

/** SendEvent, SendPush and WatchEvents, written once; every transport serves these functions. */
export function createHubService(deps: HubDeps): ServiceImpl<typeof HubService> {
  const { stores, bus, validator: v } = deps;
  const { registry, status } = stores;
  const watching = createWatchStreams({ ...deps, handlers: stores.handlers, status });

  async function publishedApp(appId: string): Promise<App> {
    const app = await registry.getApp(appId);
    if (!app) throw appNotFound(appId);
    if (!app.published) {
      throw heraldError(Code.FailedPrecondition, "APP_NOT_PUBLISHED", `app "${appId}" is not published`);
    }
    return app;
  }

  /** Resolves targets, encodes the envelope once, publishes it and records it for GetMessageStatus. */
  async function publish(refs: readonly SubscriberRef[], event: Envelope): Promise<Published> {
    const { appId } = event;
    let targets: string[] = [];
    let invalidSubscribers: SubscriberRef[] = [];
    if (refs.length > 0) {
      const resolved = await registry.resolve(appId, refs);
      targets = resolved.ksids;
      invalidSubscribers = resolved.invalid;
      // Every listed subscriber is invalid: nobody to deliver to, nothing is published.
      if (targets.length === 0) return { msgId: "", offset: 0n, invalidSubscribers };
    }
    event.targets = targets;
    const { msgId, offset } = await bus.publish(appId, encodeEvent(event));
    deps.published?.(appId);
    // Awaited so that a GetMessageStatus after the reply finds it; watchers may mark deliveries
    // before this lands, which the store allows for. The message is out by now: a failed record
    // is logged, not reported, so that the caller does not retry and publish it twice.
    await status
      .recordMessage({ requestId: event.requestId || msgId, msgId, appId, ksids: targets, broadcast: refs.length === 0, time: event.time })
      .catch((err: unknown) => deps.logger.warn({ msgId, err: String(err) }, "published, but its delivery status was not recorded"));
    return { msgId, offset, invalidSubscribers };
  }

  return {
    async sendEvent(req: SendEventRequest, ctx: HandlerContext) {
      const eventId = v.id("event_id", req.eventId);
      v.optionalId("app_id", req.appId);
      v.optionalId("request_id", req.requestId);
      v.message(req);

      // App checks come first (as the legacy codes rank them), so look both up at once.
      const [givenApp, definition] = await Promise.all([
        req.appId === "" ? undefined : publishedApp(req.appId),
        registry.getEvent(eventId),
      ]);
      if (!definition || (givenApp && definition.appId !== givenApp.id)) {
        throw heraldError(Code.NotFound, "EVENT_NOT_FOUND", `event "${eventId}" not found`);
      }
      const app = givenApp ?? (await publishedApp(definition.appId));
      // The authorization layer checked a given app_id; one found from the event is checked here.
      if (!givenApp) requireApp(ctx, app.id);
      if (!definition.published) {
        throw heraldError(Code.FailedPrecondition, "EVENT_NOT_PUBLISHED", `event "${eventId}" is not published`);
      }

      const content = create(ContentSchema, req.content ?? { mimeType: "text/plain" });
      if (content.data === "") content.data = renderTemplate(definition.message, req.namePairs);
      return publish(req.subscribers, {
        appId: app.id,
        eventId,
        kind: EventKind.EVENT,
        type: req.type,
        resourceType: req.resourceType,
        resourceId: req.resourceId,
        targets: [],
        osType: "",
        namePairs: req.namePairs,
        content,
        payload: req.payload,
        time: timestampNow(),
        requestId: req.requestId,
      });
    },

    async sendPush(req: SendPushRequest) {
      const appId = v.id("app_id", req.appId);
      v.short("os_type", req.osType);
      v.optionalId("request_id", req.requestId);
      v.message(req);
      if (!req.content || req.content.data === "") throw invalidArgument("content.data is required");
      if (!req.allActive && req.subscribers.length === 0) throw invalidArgument("subscribers or all_active is required");
      await publishedApp(appId);
      return publish(req.allActive ? [] : req.subscribers, {
        appId,
        eventId: "",
        kind: EventKind.PUSH,
        type: req.type,
        resourceType: req.resourceType,
        resourceId: req.resourceId,
        targets: [],
        osType: req.allActive ? req.osType : "",
        namePairs: req.namePairs,
        content: req.content,
        payload: req.payload,
        time: timestampNow(),
        requestId: req.requestId,
      });
    },

    async *watchEvents(req: WatchEventsRequest, ctx: HandlerContext): AsyncIterable<WatchEventsResponse> {
      const appId = v.id("app_id", req.appId);
      v.routing(req);
      v.optionalId("ksid", req.ksid);
      v.optionalId("handler_id", req.handlerId);
      if (req.handlerId !== "") {
        if (req.type !== "" || req.resourceType !== "" || req.resourceId !== "" || req.ksid !== "") {
          throw invalidArgument("handler_id cannot be combined with type, resource_type, resource_id or ksid");
        }
        yield* watching.handler(appId, req.handlerId, req.resumeAfter, ctx);
        return;
      }
      const app = await registry.getApp(appId);
      if (!app) throw appNotFound(appId);
      let osType = "";
      if (req.ksid !== "") {
        const sub = await registry.getSubscriber(req.ksid);
        if (!sub || sub.appId !== appId) {
          throw heraldError(Code.NotFound, "SUBSCRIBER_NOT_FOUND", `subscriber "${req.ksid}" not found in app "${appId}"`);
        }
        osType = sub.osType;
      }
      yield* watching.events(appId, { routes: [routing(req)], ksid: req.ksid, osType }, req.resumeAfter, ctx);
    },

    async getMessageStatus(req: GetMessageStatusRequest, ctx: HandlerContext) {
      const requestId = v.id("request_id", req.requestId);
      const all = await status.messageStatus(requestId);
      // A key sees the messages of its apps only; of none of them, the request is not found.
      const caller = principalOf(ctx);
      const messages = all?.filter((m) => mayTouch(caller, m.appId));
      if (!messages || messages.length === 0) {
        throw heraldError(Code.NotFound, "MESSAGE_NOT_FOUND", `no messages for request id "${requestId}" (unknown or expired)`);
      }
      return { messages };
    },
  };
}

function routing(r: { type: string; resourceType: string; resourceId: string }) {
  return { type: r.type, resourceType: r.resourceType, resourceId: r.resourceId };
}
