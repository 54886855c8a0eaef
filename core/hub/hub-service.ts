import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createHash, randomUUID } from "node:crypto";
import { clone, create, fromJson, toBinary, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { timestampNow } from "../timestamp.js";
import { ContentSchema, EventKind, SubscriberRefSchema, type SubscriberRef } from "../gen/herald/v1/event_pb.js";
import {
  SendEventBatchRequestSchema,
  SendEventRequestSchema,
  SendPushBatchRequestSchema,
  SendPushRequestSchema,
  type HubService,
  type GetMessageStatusRequest,
  type SendEventBatchRequest,
  type SendEventRequest,
  type SendPushBatchRequest,
  type SendPushRequest,
  type WatchEventsRequest,
  type WatchEventsResponse,
  type PushOptions,
} from "../gen/herald/v1/hub_pb.js";
import type { PushDispatch } from "../push/start-push.js";
import type { App, EventDefinition } from "../gen/herald/v1/registry_pb.js";
import { IdempotencyKeyReused, type Bus } from "../bus/bus.js";
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
import { pushStream, startedBy, type StreamSink } from "../wire/push-stream.js";

export interface HubDeps {
  stores: Stores;
  bus: Bus;
  fanOut: FanOut;
  validator: Validator;
  /** History page size when a watcher resumes. */
  historyPage: number;
  /** How long an idempotency key is remembered (ms). */
  idempotencyWindowMs: number;
  /** Where event handler streams stopped. */
  cursors: HandlerCursors;
  logger: Logger;
  /** Told of the messages each call published, by app (per-app metrics); absent: nobody is. */
  published?: (appId: string, count: number) => void;
  /** Delivery to devices through the apps' push providers; absent: pushes reach watchers only. */
  push?: PushDispatch;
}

/**
 * One send of a call, its envelope built once: `publish` fills in `targets` and `requestId` (ids
 * are the bus's). `refs` empty: every (active) subscriber of the app.
 */
interface Send {
  refs: readonly SubscriberRef[];
  event: EventFields & { targets: string[] };
  push: PushOptions | undefined;
}

interface Outcome {
  results: Published[];
  /** What the messages were recorded under: the request id given, else the first msg id. */
  requestId: string;
}

/** A call's idempotency key and the fingerprint of its request. */
interface KeyedRequest {
  key: string;
  fingerprint: string;
}

/** Kept with an idempotency key (JSON): the reply beyond the ids, to answer a repeat with. */
interface Memo {
  /** The request id given. */
  r: string;
  /** Per send: published (takes the next id) or not (all its subscribers invalid). */
  p: boolean[];
  /** Per send: its invalid subscribers (SubscriberRef JSON). */
  i: JsonValue[][];
}

interface Published {
  msgId: string;
  offset: bigint;
  invalidSubscribers: SubscriberRef[];
}

/** Push options as given, checked: what the push services accept. */
function checkPushOptions(at: string, o: PushOptions | undefined): PushOptions | undefined {
  if (!o) return undefined;
  if (o.title.length > 1024) throw invalidArgument(`${at}push_options.title is longer than 1024 characters`);
  if (Buffer.byteLength(o.collapseId) > 64) throw invalidArgument(`${at}push_options.collapse_id is longer than 64 bytes`);
  if (o.ttlSeconds > 28 * 24 * 3600) throw invalidArgument(`${at}push_options.ttl_seconds is longer than 28 days (2419200)`);
  return o;
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

  /**
   * The one publish path of SendEvent, SendPush and SendPushBatch: resolves each send's targets,
   * encodes each envelope once, publishes them all as one bus batch (under the idempotency key, if
   * any) and records them for GetMessageStatus. A send whose listed subscribers are all invalid is
   * not published (msg_id empty). On a repeat under the key, nothing is published or recorded and
   * the first call's reply is rebuilt from the bus's ids and memo.
   */
  async function publish(
    appId: string,
    sends: readonly Send[],
    requestId: string,
    idempotency: KeyedRequest | undefined,
  ): Promise<Outcome> {
    const resolveRefs = (refs: readonly SubscriberRef[]) =>
      refs.length === 0 ? { ksids: [] as string[], invalid: [] as SubscriberRef[] } : registry.resolve(appId, refs);
    // One send (nearly every call): its lookup awaited alone, without a list of promises.
    const resolved =
      sends.length === 1 ? [await resolveRefs(sends[0]!.refs)] : await Promise.all(sends.map(({ refs }) => resolveRefs(refs)));
    // Every listed subscriber invalid: nobody to deliver to, nothing is published for that send.
    const out = sends.map((send, i) => ({
      send,
      invalid: resolved[i]!.invalid,
      publish: send.refs.length === 0 || resolved[i]!.ksids.length > 0,
    }));
    const results: Published[] = out.map(({ invalid }) => ({ msgId: "", offset: 0n, invalidSubscribers: invalid }));
    const chosen = out.flatMap((o, i) => (o.publish ? [i] : []));
    // Nothing to publish: without a key, answered at once; with one, a repeat of a call that did
    // publish (the registry changed since) still answers that call's reply.
    if (chosen.length === 0 && !idempotency) return { results, requestId: "" };
    const envelopes = chosen.map((i) => {
      const event = out[i]!.send.event;
      event.targets = resolved[i]!.ksids;
      event.requestId = requestId;
      return encodeEvent(event);
    });
    // Kept with the key only: sends without one (the hot path) skip it.
    const memo = (): Uint8Array => {
      const m: Memo = {
        r: requestId,
        p: out.map((o) => o.publish),
        i: out.map((o) => o.invalid.map((r) => toJson(SubscriberRefSchema, r))),
      };
      return new TextEncoder().encode(JSON.stringify(m));
    };
    let batch;
    try {
      batch = await bus.publishBatch(
        appId,
        envelopes,
        idempotency && {
          key: idempotency.key,
          fingerprint: idempotency.fingerprint,
          windowMs: deps.idempotencyWindowMs,
          memo: memo(),
        },
      );
    } catch (err) {
      if (err instanceof IdempotencyKeyReused) {
        throw heraldError(
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
          `idempotency key "${idempotency?.key}" was used for a different request`,
        );
      }
      throw err;
    }
    if (batch.replayed) return replay(batch.ids, batch.memo);
    if (chosen.length === 0) return { results, requestId: "" };
    deps.published?.(appId, chosen.length);
    const grouped = requestId || batch.ids[0]!.msgId;
    const landing: Array<Promise<unknown>> = [];
    chosen.forEach((i, n) => {
      const { msgId, offset } = batch.ids[n]!;
      results[i] = { msgId, offset, invalidSubscribers: out[i]!.invalid };
      const { event, refs } = out[i]!.send;
      // Awaited so that a GetMessageStatus after the reply finds it; watchers may mark deliveries
      // before this lands, which the store allows for. The message is out by now: a failed record
      // is logged, not reported, so that the caller does not retry and publish it twice.
      landing.push(
        status
          .recordMessage({ requestId: grouped, msgId, appId, ksids: event.targets, broadcast: refs.length === 0, time: event.time })
          .catch((err: unknown) => deps.logger.warn({ msgId, err: String(err) }, "published, but its delivery status was not recorded")),
      );
      // Queued after the publish, like the record: a failure is logged for the same reason.
      if (deps.push) {
        landing.push(
          deps.push
            .dispatch({
              appId,
              requestId: grouped,
              msgId,
              ksids: event.targets,
              broadcast: refs.length === 0,
              osType: event.osType,
              eventId: event.eventId,
              content: event.content,
              options: out[i]!.send.push,
            })
            .catch((err: unknown) => deps.logger.warn({ msgId, err: String(err) }, "published, but its device pushes were not queued")),
        );
      }
    });
    await (landing.length === 1 ? landing[0] : Promise.all(landing));
    return { results, requestId: grouped };
  }

  /** The first call's reply from its ids (published sends, in order) and memo. */
  function replay(ids: ReadonlyArray<{ msgId: string; offset: bigint }>, bytes: Uint8Array): Outcome {
    const memo = JSON.parse(new TextDecoder().decode(bytes)) as Memo;
    let n = 0;
    const results = memo.p.map((published, i) => {
      const invalidSubscribers = memo.i[i]!.map((r) => fromJson(SubscriberRefSchema, r));
      const id = published ? ids[n++] : undefined;
      return { msgId: id?.msgId ?? "", offset: id?.offset ?? 0n, invalidSubscribers };
    });
    return { results, requestId: memo.r || (ids[0]?.msgId ?? "") };
  }

  /** The key and the request's fingerprint, or undefined without a key. */
  function keyed<D extends DescMessage>(
    schema: D,
    req: MessageShape<D> & { idempotencyKey: string; requestId: string },
    ignoreRequestId = false,
  ): KeyedRequest | undefined {
    const key = v.idempotencyKey("idempotency_key", req.idempotencyKey);
    if (key === "") return undefined;
    // The request as sent, less what may differ between attempts of one request.
    const bare = clone(schema, req) as typeof req;
    bare.idempotencyKey = "";
    if (ignoreRequestId) bare.requestId = "";
    const fingerprint = createHash("sha256").update(schema.typeName).update(toBinary(schema, bare)).digest("base64");
    return { key, fingerprint };
  }

  /** Checks one message of a batch: the batch's app (or none), no request id or key of its own, its sizes. */
  function batchMember(at: string, m: SendEventRequest | SendPushRequest, appId: string): void {
    if (m.appId !== "" && m.appId !== appId) throw invalidArgument(`${at}app_id must be empty or the batch's app_id`);
    if (m.requestId !== "" || m.idempotencyKey !== "") {
      throw invalidArgument(`${at}request_id and ${at}idempotency_key must be empty: the batch's apply`);
    }
    v.message(m);
  }

  /** The envelope of one registered event of a published app (SendEvent, or one of a SendEventBatch). */
  function eventSend(appId: string, definition: EventDefinition, req: SendEventRequest, index?: number): Send {
    const push = checkPushOptions(index === undefined ? "" : `events[${index}].`, req.pushOptions);
    if (!definition.published) {
      const which = index === undefined ? "" : `events[${index}]: `;
      throw heraldError(Code.FailedPrecondition, "EVENT_NOT_PUBLISHED", `${which}event "${definition.id}" is not published`);
    }
    const content = create(ContentSchema, req.content ?? { mimeType: "text/plain" });
    if (content.data === "") content.data = renderTemplate(definition.message, req.namePairs);
    return {
      refs: req.subscribers,
      event: {
        appId,
        eventId: definition.id,
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
        requestId: "",
      },
      push,
    };
  }

  /** The envelope of one push (SendPush, or one of a SendPushBatch). */
  function pushSend(appId: string, req: SendPushRequest, at: string): Send {
    v.short(`${at}os_type`, req.osType);
    if (!req.content || req.content.data === "") throw invalidArgument(`${at}content.data is required`);
    if (!req.allActive && req.subscribers.length === 0) throw invalidArgument(`${at}subscribers or all_active is required`);
    return {
      refs: req.allActive ? [] : req.subscribers,
      event: {
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
        requestId: "",
      },
      push: checkPushOptions(at, req.pushOptions),
    };
  }

  return {
    async sendEvent(req: SendEventRequest, ctx: HandlerContext) {
      const eventId = v.id("event_id", req.eventId);
      v.optionalId("app_id", req.appId);
      v.optionalId("request_id", req.requestId);
      const idempotency = keyed(SendEventRequestSchema, req);
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
      const { results } = await publish(app.id, [eventSend(app.id, definition, req)], req.requestId, idempotency);
      return results[0]!;
    },

    async sendEventBatch(req: SendEventBatchRequest) {
      const appId = v.id("app_id", req.appId);
      v.optionalId("request_id", req.requestId);
      v.pushCount("events", req.events.length);
      // As for SendPushBatch: a request id given per attempt is not part of the fingerprint.
      const idempotency = keyed(SendEventBatchRequestSchema, req, true);
      const eventIds = req.events.map((event, i) => {
        const at = `events[${i}].`;
        batchMember(at, event, appId);
        return v.id(`${at}event_id`, event.eventId);
      });
      // The app's checks come first, as for SendEvent; then every event, read at once.
      await publishedApp(appId);
      const definitions = await Promise.all(eventIds.map((id) => registry.getEvent(id)));
      const sends = req.events.map((event, i) => {
        const definition = definitions[i];
        if (!definition || definition.appId !== appId) {
          throw heraldError(Code.NotFound, "EVENT_NOT_FOUND", `events[${i}]: event "${eventIds[i]}" not found`);
        }
        return eventSend(appId, definition, event, i);
      });
      const requestId = req.requestId || (sends.length > 1 ? randomUUID() : "");
      const { results, requestId: grouped } = await publish(appId, sends, requestId, idempotency);
      return { responses: results, requestId: grouped };
    },

    async sendPush(req: SendPushRequest) {
      const appId = v.id("app_id", req.appId);
      v.optionalId("request_id", req.requestId);
      const idempotency = keyed(SendPushRequestSchema, req);
      v.message(req);
      const send = pushSend(appId, req, "");
      await publishedApp(appId);
      const { results } = await publish(appId, [send], req.requestId, idempotency);
      return results[0]!;
    },

    async sendPushBatch(req: SendPushBatchRequest) {
      const appId = v.id("app_id", req.appId);
      v.optionalId("request_id", req.requestId);
      v.pushCount("pushes", req.pushes.length);
      // The facade gives a random request id per attempt: it is not part of the fingerprint.
      const idempotency = keyed(SendPushBatchRequestSchema, req, true);
      const sends = req.pushes.map((push, i) => {
        const at = `pushes[${i}].`;
        batchMember(at, push, appId);
        return pushSend(appId, push, at);
      });
      await publishedApp(appId);
      // Several messages without a request id: a new one groups them (each message carries it).
      const requestId = req.requestId || (sends.length > 1 ? randomUUID() : "");
      const { results, requestId: grouped } = await publish(appId, sends, requestId, idempotency);
      return { responses: results, requestId: grouped };
    },

    // Push-style (core/wire/push-stream.ts): an idle stream is its watcher and the transport's sink.
    watchEvents: pushStream(
      startedBy(async (req: WatchEventsRequest, _ctx: HandlerContext, sink: StreamSink<WatchEventsResponse>) => {
        const appId = v.id("app_id", req.appId);
        v.routing(req);
        v.optionalId("ksid", req.ksid);
        v.optionalId("handler_id", req.handlerId);
        if (req.handlerId !== "") {
          if (req.type !== "" || req.resourceType !== "" || req.resourceId !== "" || req.ksid !== "") {
            throw invalidArgument("handler_id cannot be combined with type, resource_type, resource_id or ksid");
          }
          return watching.handler(appId, req.handlerId, req.resumeAfter, sink, req.maxBatch);
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
        return watching.events(appId, { routes: [routing(req)], ksid: req.ksid, osType }, req.resumeAfter, sink, req.maxBatch);
      }),
    ),

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
