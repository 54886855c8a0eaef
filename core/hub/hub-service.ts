import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampNow } from "../timestamp.js";
import {
  ContentSchema,
  EventKind,
  EventSchema,
  type Event,
  type SubscriberRef,
} from "../gen/herald/v1/event_pb.js";
import {
  HubService,
  WatchEventsResponseSchema,
  type GetMessageStatusRequest,
  type SendEventRequest,
  type SendPushRequest,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from "../gen/herald/v1/hub_pb.js";
import type { App } from "../gen/herald/v1/registry_pb.js";
import type { Bus } from "../bus/bus.js";
import type { Stores } from "../store/stores.js";
import { encodeEvent, type EventFields } from "../bus/encode-event.js";
import { FanOut, WatcherEnded, type Watcher, type WatchFilter } from "./fan-out.js";
import { HandlerChangeSchema } from "../gen/herald/v1/handler_pb.js";
import type { HandlerCursors } from "./handler-cursors.js";
import { heraldError, invalidArgument } from "../rpc/errors.js";
import { renderTemplate } from "./template.js";
import type { Validator } from "../rpc/validate.js";
import type { Logger } from "../logger.js";

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
  const { stores, bus, fanOut, cursors, validator: v } = deps;
  const { registry, status, handlers } = stores;

  async function publishedApp(appId: string): Promise<App> {
    const app = await registry.getApp(appId);
    if (!app) throw heraldError(Code.NotFound, "APP_NOT_FOUND", `app "${appId}" not found`);
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
    // Awaited so that a GetMessageStatus after the reply finds it; watchers may mark deliveries
    // before this lands, which the store allows for. The message is out by now: a failed record
    // is logged, not reported, so that the caller does not retry and publish it twice.
    await status
      .recordMessage({ requestId: event.requestId || msgId, msgId, appId, ksids: targets, broadcast: refs.length === 0, time: event.time })
      .catch((err: unknown) => deps.logger.warn({ msgId, err: String(err) }, "published, but its delivery status was not recorded"));
    return { msgId, offset, invalidSubscribers };
  }

  return {
    async sendEvent(req: SendEventRequest) {
      const eventId = v.required("event_id", req.eventId);
      v.short("app_id", req.appId);
      v.short("request_id", req.requestId);
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
      const appId = v.required("app_id", req.appId);
      v.short("os_type", req.osType);
      v.short("request_id", req.requestId);
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
      const appId = v.required("app_id", req.appId);
      v.routing(req);
      v.short("ksid", req.ksid);
      v.short("handler_id", req.handlerId);
      if (req.handlerId !== "") {
        yield* watchHandler(appId, req, ctx);
        return;
      }
      const app = await registry.getApp(appId);
      if (!app) throw heraldError(Code.NotFound, "APP_NOT_FOUND", `app "${appId}" not found`);
      let osType = "";
      if (req.ksid !== "") {
        const sub = await registry.getSubscriber(req.ksid);
        if (!sub || sub.appId !== appId) {
          throw heraldError(Code.NotFound, "SUBSCRIBER_NOT_FOUND", `subscriber "${req.ksid}" not found in app "${appId}"`);
        }
        osType = sub.osType;
      }
      const watcher = await watch(appId, { routes: [routing(req)], ksid: req.ksid, osType }, req.resumeAfter);
      // A ksid watcher only gets events that target it or nobody (Watcher.matches): each one it
      // takes is a delivery. Marked once the transport pulls the next, i.e. has written this one.
      const delivered = req.ksid === "" ? undefined : (event: Event) => markDelivered(event, req.ksid);
      yield* stream(appId, watcher, req.resumeAfter, ctx, delivered);
    },

    async getMessageStatus(req: GetMessageStatusRequest) {
      const requestId = v.required("request_id", req.requestId);
      const messages = await status.messageStatus(requestId);
      if (!messages) {
        throw heraldError(Code.NotFound, "MESSAGE_NOT_FOUND", `no messages for request id "${requestId}" (unknown or expired)`);
      }
      return { messages };
    },
  };

  /** Registers a watcher; a fan-out refusal becomes the RPC's status. */
  async function watch(appId: string, filter: WatchFilter, resumeAfter: bigint | undefined): Promise<Watcher> {
    try {
      return await fanOut.watch(appId, filter);
    } catch (err) {
      throw err instanceof WatcherEnded ? ended(err, resumeAfter) : err;
    }
  }

  /**
   * History after `resumeAfter` (when set), then live events, without gap or duplicate.
   * `delivered` runs once the transport has taken an event.
   */
  async function* stream(
    appId: string,
    watcher: Watcher,
    resumeAfter: bigint | undefined,
    ctx: HandlerContext,
    delivered?: (event: Event) => void,
  ): AsyncIterable<WatchEventsResponse> {
    const onAbort = () => watcher.close();
    ctx.signal.addEventListener("abort", onAbort);
    // The offset of the last event handed on (delivered or filtered out): where to resume.
    let last = resumeAfter;
    try {
      if (resumeAfter !== undefined) {
        for await (const event of replay(appId, resumeAfter)) {
          last = event.offset;
          if (watcher.matches(event)) {
            yield create(WatchEventsResponseSchema, { event });
            delivered?.(event);
          }
          if (ctx.signal.aborted) return;
        }
      }
      for await (const response of watcher) {
        const offset = response.event?.offset ?? 0n;
        if (last !== undefined && offset <= last) continue; // already sent from history
        last = offset;
        yield response;
        if (delivered && response.event) delivered(response.event);
      }
    } catch (err) {
      throw err instanceof WatcherEnded ? ended(err, last) : err;
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      watcher.close();
    }
  }

  /** WatchEvents of an event handler: its subscriptions, followed live, from where its streams stopped. */
  async function* watchHandler(appId: string, req: WatchEventsRequest, ctx: HandlerContext): AsyncIterable<WatchEventsResponse> {
    const id = req.handlerId;
    if (req.type !== "" || req.resourceType !== "" || req.resourceId !== "" || req.ksid !== "") {
      throw invalidArgument("handler_id cannot be combined with type, resource_type, resource_id or ksid");
    }
    const handler = await handlers.getHandler(appId, id);
    if (!handler) throw heraldError(Code.NotFound, "HANDLER_NOT_FOUND", `event handler "${id}" not found for app "${appId}"`);
    const watcher = await watch(
      appId,
      { routes: handler.subscriptions, ksid: "", osType: "", handler: { id, revision: handler.revision } },
      req.resumeAfter,
    );
    let opened = false;
    try {
      // A change made while the watcher was being registered was announced before it listened.
      const now = await handlers.getHandler(appId, id);
      watcher.apply(create(HandlerChangeSchema, { handler: now ?? handler, deleted: !now }));
      const saved = await cursors.open(appId, id);
      opened = true;
      const from = req.resumeAfter ?? (await withinHistory(appId, saved));
      yield* stream(appId, watcher, from, ctx, (event) => cursors.note(appId, id, event.offset));
    } finally {
      watcher.close();
      if (opened) cursors.close(appId, id);
    }
  }

  /**
   * A handler's saved position, moved into what history holds: its events older than history
   * are gone, and a position beyond the latest (history lost, e.g. a Redis without persistence
   * restarted) would hide the new events.
   */
  async function withinHistory(appId: string, after: bigint): Promise<bigint> {
    const { earliest, latest } = await bus.history(appId, 0n, 0);
    const start = after > latest ? latest : latest > after && earliest > after + 1n ? earliest - 1n : after;
    if (start !== after) {
      deps.logger.warn({ app: appId, saved: String(after), from: String(start) }, "event handler position is outside history; continuing from what it holds");
    }
    return start;
  }

  /** Fire and forget: a status write never holds up or ends a stream. */
  function markDelivered(event: Event, ksid: string): void {
    status.markDelivered(event.requestId || event.msgId, event.msgId, ksid, Date.now()).catch((err: unknown) =>
      deps.logger.warn({ msgId: event.msgId, ksid, err: String(err) }, "cannot record delivery"),
    );
  }

  /** History after `after`, page by page, up to the latest offset at the time of reading. */
  async function* replay(appId: string, after: bigint): AsyncIterable<Event> {
    let cursor = after;
    let first = true;
    for (;;) {
      const page = await bus.history(appId, cursor, deps.historyPage);
      if (first) {
        first = false;
        if (after > page.latest) {
          throw heraldError(
            Code.OutOfRange,
            "HISTORY_EXPIRED",
            `resume_after ${after} is beyond the latest offset ${page.latest} of app "${appId}"`,
            { latest: String(page.latest) },
          );
        }
        if (page.latest > after && page.earliest > after + 1n) {
          throw heraldError(
            Code.OutOfRange,
            "HISTORY_EXPIRED",
            `events after offset ${after} are no longer in history (earliest is ${page.earliest})`,
            { earliest: String(page.earliest) },
          );
        }
      }
      for (const message of page.messages) {
        const event = fromBinary(EventSchema, message);
        cursor = event.offset;
        yield event;
      }
      if (page.messages.length < deps.historyPage) return;
    }
  }
}

function routing(r: { type: string; resourceType: string; resourceId: string }) {
  return { type: r.type, resourceType: r.resourceType, resourceId: r.resourceId };
}

function ended(err: WatcherEnded, last: bigint | undefined) {
  const meta: Record<string, string> = last === undefined ? {} : { resume_after: String(last) };
  const hint = last === undefined ? "" : `; resume after offset ${last}`;
  switch (err.kind) {
    case "slow":
      return heraldError(Code.ResourceExhausted, "SLOW_CONSUMER", `${err.message}${hint}`, meta);
    case "shutdown":
      return heraldError(Code.Unavailable, "SHUTTING_DOWN", `${err.message}${hint}`, meta);
    case "unavailable":
      return heraldError(Code.Unavailable, "UNAVAILABLE", `${err.message}${hint}`, meta);
  }
}
