import { randomUUID } from "node:crypto";
import Router from "@koa/router";
import type { Context } from "koa";
import type { ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../core/logger.js";
import { requestFormat, TooLargeError, type BodyFormat } from "../body.js";
import { FormatError } from "../format-error.js";
import type { LegacyDeps } from "../legacy-deps.js";
import { reasonOf } from "../../core/rpc/errors.js";
import { AccessRefused, authorizePublish, CHALLENGE } from "./access.js";
import { eventPushToSendEvent, sendEventRequestOf } from "./event-push.js";
import { messageRequestToSendPush } from "./message-push.js";
import { renderMessageResponse, type MessageReply, type Rendered } from "./message-response.js";
import { parseSubscription, renderSubscriptionResponse, SUBSCRIBED, SUBSCRIBER_INVALID, UNSUBSCRIBED } from "./subscription.js";
import { statusBody } from "./status.js";
import {
  APP_NOT_PUBLISHED,
  EVENT_NOT_PUBLISHED,
  IDEMPOTENCY_KEY_REUSED,
  INVALID_FORMAT,
  KONY,
  QUEUED,
  SERVER_FAILED,
  TOO_LARGE,
  TOO_MANY_MESSAGES,
  VOLT_MX,
  type Wording,
} from "./wording.js";

export interface KpnsDeps extends LegacyDeps {
  /** Check each client's credential with the core (authorizePublish) before acting. */
  accessControl: boolean;
  /** Most messages in one push request; more is refused whole with 413 (TOO_MANY_MESSAGES). */
  maxPushMessages: number;
}

/**
 * The `Idempotency-Key` header (as Stripe and the IETF draft name it), handed to the core as is:
 * the core checks it and keeps it per app. Absent: "".
 */
export function idempotencyKey(ctx: Context): string {
  return ctx.get("Idempotency-Key");
}

/** A push request with more messages than `maxPushMessages`. */
class TooManyMessages extends Error {}

/** The Kony (/kpns) and Volt MX (/vpns) push surfaces: one behaviour, two wordings. */
export function kpnsRouter(deps: KpnsDeps): Router {
  const router = new Router();
  for (const [prefix, wording] of [
    ["/kpns", KONY],
    ["/vpns", VOLT_MX],
  ] as const) {
    router.post(`${prefix}/service/eventpushmessage`, (ctx) => eventPushMessage(ctx, deps, wording));
    router.post(`${prefix}/api/v1/messages/push`, (ctx) => pushMessage(ctx, deps, wording));
    router.post(`${prefix}/subscription`, (ctx) => subscription(ctx, deps, wording));
    router.get(`${prefix}/api/v1/status/push/request/:id`, (ctx) => pushStatus(ctx, deps));
  }
  return router;
}

function eventPushMessage(ctx: Context, deps: KpnsDeps, wording: Wording): Promise<void> {
  return answerMessage(ctx, deps, wording, wording.appInvalid, async () => {
    // A message at once, its idempotency key and app set on it: the in-process core takes it as is,
    // where a copy of a spread object would be built field by field again.
    const request = sendEventRequestOf(eventPushToSendEvent(await deps.readBody(ctx)));
    request.idempotencyKey = idempotencyKey(ctx);
    if (deps.accessControl) {
      // The document names no app: the event's own, whose credential is checked and which the send
      // is then bound to (an event moved to another app meanwhile is not found).
      const { event } = await deps.registry.getEvent({ id: request.eventId ?? "" });
      const appId = event?.appId ?? "";
      await authorizePublish(ctx, deps, appId);
      request.appId = appId;
    }
    const res = await deps.hub.sendEvent(request);
    return { code: 200, description: QUEUED, msgIds: [res.msgId || "-1"], invalidSubscribers: res.invalidSubscribers };
  });
}

function pushMessage(ctx: Context, deps: KpnsDeps, wording: Wording): Promise<void> {
  return answerMessage(ctx, deps, wording, wording.appIdInvalid, async () => {
    const pushes = messageRequestToSendPush(await deps.readBody(ctx));
    // One app per request (messageRequest.appId).
    const appId = pushes[0]?.appId ?? "";
    await authorizePublish(ctx, deps, appId);
    // Refused whole, before anything is published: one request fanned out into thousands of
    // messages would end the app's live watchers (SLOW_CONSUMER).
    if (pushes.length > deps.maxPushMessages) throw new TooManyMessages();
    // One request id for all its messages. With access control, a random one (122 bits), so
    // that nobody finds a request by counting; without, the core's (a single message's msg id).
    // The request is published as one unit (all its messages or none), and a retry with the
    // same Idempotency-Key answers the first reply, request id included.
    const res = await deps.hub.sendPushBatch({
      appId,
      pushes: pushes.map((p) => ({ ...p, appId: "" })),
      requestId: deps.accessControl ? randomUUID() : "",
      idempotencyKey: idempotencyKey(ctx),
    });
    return {
      code: 200,
      description: QUEUED,
      requestId: res.requestId || "-1",
      msgIds: res.responses.map((r) => r.msgId || "-1"),
      invalidSubscribers: res.responses.flatMap((r) => r.invalidSubscribers),
    };
  });
}

/** Answers a message request in its format: the reply `make` builds, or the contract's failure for what it throws. */
async function answerMessage(
  ctx: Context,
  deps: KpnsDeps,
  wording: Wording,
  appInvalid: string,
  make: () => Promise<MessageReply>,
): Promise<void> {
  const format = requestFormat(ctx);
  let reply: MessageReply;
  try {
    reply = await make();
  } catch (err) {
    reply = failure(err, format, wording, appInvalid, deps.logger, ctx);
  }
  send(ctx, renderMessageResponse(format, reply));
}

async function subscription(ctx: Context, deps: KpnsDeps, wording: Wording): Promise<void> {
  const format = requestFormat(ctx);
  let rendered: Rendered;
  try {
    const command = parseSubscription(await deps.readBody(ctx));
    if (command.kind === "subscribe") {
      await authorizePublish(ctx, deps, command.appId);
      const { kind: _, ...req } = command;
      const { ksid } = await deps.registry.subscribe(req);
      rendered = renderSubscriptionResponse(format, { code: 200, ksid, message: SUBSCRIBED });
    } else {
      const ksids = await ksidsToUnsubscribe(ctx, deps, command);
      if (ksids.length === 0) {
        rendered = renderSubscriptionResponse(format, { code: 400, message: SUBSCRIBER_INVALID });
      } else {
        for (const ksid of ksids) await deps.registry.unsubscribe({ ksid });
        rendered = renderSubscriptionResponse(format, { code: 200, message: UNSUBSCRIBED });
      }
    }
  } catch (err) {
    const { code, description } = failure(err, format, wording, wording.appIdInvalid, deps.logger, ctx);
    rendered = renderSubscriptionResponse(format, { code, message: code === 500 ? SERVER_FAILED : description });
  }
  send(ctx, rendered);
}

/**
 * By ksid (which must belong to the app when one is named), or every subscription of the app's
 * device. The app named is authorized before anything is read; else the ksid's own app.
 */
async function ksidsToUnsubscribe(
  ctx: Context,
  deps: KpnsDeps,
  command: { appId: string; ksid: string; deviceId: string },
): Promise<string[]> {
  if (command.appId !== "") await authorizePublish(ctx, deps, command.appId);
  if (command.ksid !== "") {
    let appId: string;
    try {
      const { subscriber } = await deps.registry.getSubscriber({ ksid: command.ksid });
      appId = subscriber?.appId ?? "";
    } catch (err) {
      if (reasonOf(err) === "SUBSCRIBER_NOT_FOUND") return [];
      throw err;
    }
    if (appId === "" || (command.appId !== "" && appId !== command.appId)) return [];
    if (command.appId === "") await authorizePublish(ctx, deps, appId);
    return [command.ksid];
  }
  const { subscribers } = await deps.registry.listSubscribers({ appId: command.appId });
  return subscribers.filter((s) => s.deviceId === command.deviceId).map((s) => s.ksid);
}

async function pushStatus(ctx: Context, deps: KpnsDeps): Promise<void> {
  const id = ctx.params["id"] ?? "";
  try {
    // Read as the facade, then answered only to a credential of every app the messages belong to.
    const res = await deps.hub.getMessageStatus({ requestId: id });
    for (const appId of new Set(res.messages.map((m) => m.appId))) await authorizePublish(ctx, deps, appId);
    ctx.status = 200;
    ctx.body = statusBody(res);
  } catch (err) {
    const reason = reasonOf(err);
    if (err instanceof AccessRefused) {
      deps.logger.debug({ path: ctx.path, reason: err.reason }, "legacy credential refused");
      if (err.status === 401) ctx.set("WWW-Authenticate", CHALLENGE);
      ctx.status = err.status;
      ctx.body = { code: err.status, message: err.message };
    } else if (reason === "MESSAGE_NOT_FOUND" || reason === "INVALID_ARGUMENT") {
      ctx.status = 404;
      ctx.body = { code: 404, message: "Invalid Request ID. " };
    } else {
      deps.logger.error({ err, path: ctx.path }, "push status failed");
      ctx.status = 500;
      ctx.body = { "500": SERVER_FAILED };
    }
  }
}

/** A failure in the contract's terms: the core's reason → the legacy code and description. */
function failure(err: unknown, format: BodyFormat, wording: Wording, appInvalid: string, logger: Logger, ctx: Context): MessageReply {
  const none = { msgIds: [], invalidSubscribers: [] };
  if (err instanceof FormatError) {
    logger.debug({ path: ctx.path, reason: err.message }, "invalid request format");
    return { code: 400, description: INVALID_FORMAT[format], ...none };
  }
  if (err instanceof TooLargeError) return { code: 413, description: TOO_LARGE, ...none };
  if (err instanceof TooManyMessages) return { code: 413, description: TOO_MANY_MESSAGES, ...none };
  if (err instanceof AccessRefused) {
    logger.debug({ path: ctx.path, reason: err.reason }, "legacy credential refused");
    return { code: err.status, description: err.message, ...none };
  }
  switch (reasonOf(err)) {
    case "INVALID_ARGUMENT":
      logger.debug({ path: ctx.path, reason: (err as ConnectError).rawMessage }, "request refused by the core");
      return { code: 400, description: INVALID_FORMAT[format], ...none };
    case "APP_NOT_FOUND":
      return { code: 404, description: appInvalid, ...none };
    case "APP_NOT_PUBLISHED":
      return { code: 405, description: APP_NOT_PUBLISHED, ...none };
    case "EVENT_NOT_FOUND":
      return { code: 406, description: wording.eventInvalid, ...none };
    case "EVENT_NOT_PUBLISHED":
      return { code: 407, description: EVENT_NOT_PUBLISHED, ...none };
    case "IDEMPOTENCY_KEY_REUSED":
      return { code: 409, description: IDEMPOTENCY_KEY_REUSED, ...none };
    default:
      logger.error({ err, path: ctx.path }, "request failed");
      return { code: 500, description: SERVER_FAILED, ...none };
  }
}

function send(ctx: Context, rendered: Rendered): void {
  ctx.status = rendered.status;
  if (rendered.status === 401) ctx.set("WWW-Authenticate", CHALLENGE);
  // Set before the body so Koa keeps the documents' exact spelling of the type.
  ctx.set("Content-Type", rendered.contentType);
  ctx.body = rendered.body;
}
