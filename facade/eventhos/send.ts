import type { Context } from "koa";
import type { ConnectError } from "@connectrpc/connect";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { reasonOf } from "../../core/rpc/errors.js";
import { FormatError } from "../format-error.js";
import { TooLargeError } from "../body.js";
import { CODES, reply, sendSuccess, type Reply } from "./codes.js";
import { UnsupportedTypeError } from "./read-body.js";
import type { EventhosDeps } from "./eventhos-deps.js";
import { parseQuery } from "./parse-query.js";

/** Request headers never written to the event log (credentials). */
const SECRET_HEADERS = new Set(["access-key", "authorization", "cookie", "proxy-authorization"]);

/** The access key: the `access-key` header, else the query parameter. */
export function accessKey(ctx: Context, query = ctx.query): string {
  const header = ctx.get("access-key");
  if (header !== "") return header;
  const q = query["access-key"];
  return (Array.isArray(q) ? q[0] : q) ?? "";
}

/**
 * POST /event/send?event-identifier=…: checks the key for the event, publishes the JSON body (no
 * body: `{}`) through the hub's SendEvent (payload), then records it for the contracts (ReceiveEvent,
 * given the same key, checks it again). Nothing is written before the key and the body are good.
 * Success is `deps.successCode`.
 */
export async function sendEvent(ctx: Context, deps: EventhosDeps): Promise<void> {
  // Read once: each ctx.query looks the whole query string up again.
  const query = parseQuery(ctx);
  const raw = query["event-identifier"];
  const eventId = ((Array.isArray(raw) ? raw[0] : raw) ?? "").trim();
  if (eventId === "") return reply(ctx, CODES.IDENTIFIER_REQUIRED);
  const key = accessKey(ctx, query);
  let stage = "authorize";
  try {
    const auth = await deps.clients.authorize({ accessKey: key, eventId });
    stage = "body";
    const body = (await deps.readEvent(ctx)) as JsonValue;
    const payload = fromJson(ValueSchema, body);
    stage = "send";
    // With an Idempotency-Key a retry gets the first msg id, and ReceiveEvent, keyed by it, records
    // the event (and runs its contracts) once.
    const idempotencyKey = ctx.get("Idempotency-Key");
    const sent = await deps.hub.sendEvent({ appId: auth.appId, eventId: auth.eventId, payload, idempotencyKey });
    stage = "record";
    // ReceiveEvent checks the key again (it must: it is reachable on its own); the Authorize above
    // stays so that nothing is published for a bad key. A key revoked or a client deleted in
    // between fails here, after publishing: 500000, as storage failing would (see failure).
    const received = await deps.delivery.receiveEvent({
      accessKey: key,
      msgId: sent.msgId,
      appId: auth.appId,
      eventId: auth.eventId,
      clientId: auth.clientId,
      headers: headersOf(ctx),
      query: queryOf(query),
      body: payload,
    });
    reply(ctx, received.contracts > 0 ? sendSuccess(deps.successCode) : CODES.NO_CONTRACTS);
  } catch (err) {
    reply(ctx, failure(err, stage, ctx, deps));
  }
}

function failure(err: unknown, stage: string, ctx: Context, deps: EventhosDeps): Reply {
  if (err instanceof UnsupportedTypeError) return CODES.UNSUPPORTED_TYPE;
  if (err instanceof TooLargeError) return CODES.TOO_LARGE;
  if (err instanceof FormatError) return CODES.INVALID_JSON;
  const reason = reasonOf(err);
  // Published already: a 4xx would claim nothing was written.
  if (stage === "record" && reason !== "INVALID_ARGUMENT") {
    deps.logger.error({ err, stage, path: ctx.path }, "eventhos send published but not recorded");
    return CODES.NOT_CATEGORIZED;
  }
  switch (reason) {
    case "UNAUTHENTICATED":
    case "EVENT_NOT_ALLOWED":
      return CODES.INCORRECT_TOKEN;
    case "CLIENT_NOT_FOUND":
      return CODES.CLIENT_NOT_FOUND;
    case "EVENT_NOT_FOUND":
    case "EVENT_NOT_PUBLISHED":
    case "APP_NOT_FOUND":
    case "APP_NOT_PUBLISHED":
      return CODES.EVENT_NOT_FOUND;
    case "INVALID_ARGUMENT":
      if (stage === "send" && (err as ConnectError).rawMessage.startsWith("idempotency_key")) return CODES.INVALID_IDEMPOTENCY_KEY;
      // The event id itself (too long) or the body (payload over the core's limit).
      return stage === "authorize" ? CODES.EVENT_NOT_FOUND : CODES.TOO_LARGE;
    case "IDEMPOTENCY_KEY_REUSED":
      return CODES.IDEMPOTENCY_KEY_REUSED;
    default:
      deps.logger.error({ err, stage, path: ctx.path }, "eventhos send failed");
      return CODES.NOT_CATEGORIZED;
  }
}

function headersOf(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.headers)) {
    if (v !== undefined && !SECRET_HEADERS.has(k)) out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

function queryOf(query: Context["query"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && k !== "access-key") out[k] = Array.isArray(v) ? v.join(",") : v;
  }
  return out;
}
