import Router from "@koa/router";
import type { Context } from "koa";
import type { ServerResponse } from "node:http";
import { once } from "node:events";
import { ConnectError } from "@connectrpc/connect";
import { Role, SubscriptionAction } from "../../core/gen/herald/v1/registry_pb.js";
import { TooLargeError } from "../body.js";
import { FormatError } from "../format-error.js";
import type { LegacyDeps } from "../legacy-deps.js";
import type { Logger } from "../../core/logger.js";
import { reasonOf } from "../../core/rpc/errors.js";
import {
  handlerHref,
  parseEventHandlerRequest,
  renderError,
  renderHandler,
  renderHandlers,
  subscriptionsToCreate,
  XMS_TYPE,
} from "./documents.js";
import { eventFrame, KEEPALIVE_FRAME } from "./event-frame.js";
import { CHALLENGE, xmsCredential, xmsRefusal } from "./access.js";
import type { WatchEventsResponse } from "../../core/gen/herald/v1/hub_pb.js";
import { pushCallOf, type PushCall, type SinkListener, type StreamSink } from "../../core/wire/push-stream.js";

export interface XmsDeps extends LegacyDeps {
  /** Interval of keepalive events on a stream (ms). */
  keepaliveMs: number;
  /** Check each client's credential with the core (authorizeWatch) before acting. */
  accessControl: boolean;
}

/** A request the contract answers with an error status and a `web_service` error body. */
class XmsError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Dialogic XMS `eventhandlers`: CRUD under /eventhandlers and /default/eventhandlers, and the long-held GET. */
export function xmsRouter(deps: XmsDeps): Router {
  const router = new Router();
  // Every route checks its client first, then acts; both answer errors in the contract's shape.
  const route = (handler: (ctx: Context, deps: XmsDeps) => Promise<void>) => (ctx: Context) =>
    answer(ctx, deps, async () => {
      await authorizeWatch(ctx, deps);
      await handler(ctx, deps);
    });
  for (const prefix of ["/eventhandlers", "/default/eventhandlers"]) {
    router.post(prefix, route(create));
    router.get(prefix, route(listAll));
    router.get(`${prefix}/:id`, route(streamEvents));
    router.put(`${prefix}/:id`, route(update));
    router.delete(`${prefix}/:id`, route(remove));
    // Any other method: 405 in the contract's shape (the routes above answer theirs first).
    for (const [path, allow] of [
      [prefix, "GET, POST"],
      [`${prefix}/:id`, "GET, PUT, DELETE"],
    ] as const) {
      router.all(path, (ctx) => {
        ctx.set("Allow", allow);
        reply(ctx, 405, renderError(405, `${ctx.method} is not allowed here`));
      });
    }
  }
  return router;
}

/** Every handler error in the contract's shape; never a stack trace. */
async function answer(ctx: Context, deps: XmsDeps, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (ctx.headerSent) {
      deps.logger.warn({ err: String(err), path: ctx.path }, "event stream failed");
      return;
    }
    const [status, reason] = failure(err, deps, ctx);
    if (status === 401) ctx.set("WWW-Authenticate", CHALLENGE);
    ctx.status = status;
    ctx.set("Content-Type", XMS_TYPE);
    ctx.body = renderError(status, reason);
  }
}

function failure(err: unknown, deps: XmsDeps, ctx: Context): [number, string] {
  if (err instanceof XmsError) return [err.status, err.message];
  if (err instanceof FormatError) return [400, err.message];
  if (err instanceof TooLargeError) return [413, err.message];
  switch (reasonOf(err)) {
    case "HANDLER_NOT_FOUND":
      return [404, "eventhandler not found"];
    case "INVALID_ARGUMENT":
      return [400, err instanceof ConnectError ? err.rawMessage : "invalid request"];
    case "HANDLER_LIMIT":
      return [403, err instanceof ConnectError ? err.rawMessage : "too many eventhandlers"];
    default:
      deps.logger.error({ err, path: ctx.path }, "eventhandlers request failed");
      return [500, "internal server error"];
  }
}

/** Scheme and host the client used (Koa's own `origin` is not reliable here). */
const originOf = (ctx: Context) => `${ctx.protocol}://${ctx.host}`;

/** Every request names its appid: a handler is visible only to the appid that created it. */
function appIdOf(ctx: Context): string {
  const appid = ctx.query["appid"];
  if (typeof appid !== "string" || appid.trim() === "") throw new XmsError(404, "appid is required");
  return appid.trim();
}

/**
 * With access control on, checks that the client may watch the appid's events before the route
 * acts (the core lets the facade's own calls through): a registered appid, unless the app asks
 * for Basic (its legacy key as the password); a Bearer API key with the watch role on the app; or
 * an open network of the app. Refused: XmsError 401 (with the Basic challenge) or 403.
 */
async function authorizeWatch(ctx: Context, deps: XmsDeps): Promise<void> {
  if (!deps.accessControl) return;
  const appId = appIdOf(ctx);
  try {
    await deps.registry.authorizeLegacy({
      appId,
      credential: xmsCredential(ctx.get("authorization")),
      // The socket's peer, never X-Forwarded-For: a client could claim any address.
      sourceIp: ctx.request.socket.remoteAddress ?? "",
      role: Role.WATCH,
      xms: true,
    });
  } catch (err) {
    const refused = xmsRefusal(err);
    if (!refused) throw err;
    deps.logger.debug({ path: ctx.path, app: appId, reason: reasonOf(err) }, "legacy credential refused");
    throw new XmsError(...refused);
  }
}

/** XMS bodies are XML; a client that sends no Content-Type means XML too. */
async function readXml(ctx: Context, deps: XmsDeps): Promise<unknown> {
  if (!ctx.get("content-type")) ctx.request.headers["content-type"] = XMS_TYPE;
  if (/json/i.test(ctx.get("content-type"))) throw new FormatError("eventhandlers bodies are XML");
  return deps.readBody(ctx);
}

function reply(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.set("Content-Type", XMS_TYPE);
  ctx.body = body;
}

async function create(ctx: Context, deps: XmsDeps): Promise<void> {
  const appId = appIdOf(ctx);
  const subscriptions = subscriptionsToCreate(parseEventHandlerRequest(await readXml(ctx, deps)));
  const { handler } = await deps.registry.createEventHandler({ appId, subscriptions });
  if (!handler) throw new Error("the core returned no handler");
  // As XMS 2.3: the absolute URL in Location, the path in the body's href.
  ctx.set("Location", `${originOf(ctx)}${handlerHref(handler.id)}`);
  reply(ctx, 201, renderHandler(handler));
}

async function listAll(ctx: Context, deps: XmsDeps): Promise<void> {
  const { handlers } = await deps.registry.listEventHandlers({ appId: appIdOf(ctx) });
  reply(ctx, 200, renderHandlers(handlers));
}

async function update(ctx: Context, deps: XmsDeps): Promise<void> {
  const appId = appIdOf(ctx);
  const items = parseEventHandlerRequest(await readXml(ctx, deps));
  const changes = items.map((item) => ({
    action: item.action === "add" ? SubscriptionAction.ADD : SubscriptionAction.REMOVE,
    subscription: { type: item.type, resourceType: item.resourceType, resourceId: item.resourceId },
  }));
  const { handler } = await deps.registry.updateEventHandler({ appId, id: ctx.params["id"] ?? "", changes });
  if (!handler) throw new Error("the core returned no handler");
  reply(ctx, 200, renderHandler(handler));
}

async function remove(ctx: Context, deps: XmsDeps): Promise<void> {
  await deps.registry.deleteEventHandler({ appId: appIdOf(ctx), id: ctx.params["id"] ?? "" });
  ctx.status = 204;
}

/**
 * The long-held GET: 200 at once, then every matching XMS event framed (hex length, CRLF, XML), with
 * keepalives, until the handler is deleted (the response ends), the client goes, or the core ends
 * the stream (the response ends; the client reconnects and continues where it stopped).
 */
async function streamEvents(ctx: Context, deps: XmsDeps): Promise<void> {
  const appId = appIdOf(ctx);
  const id = ctx.params["id"] ?? "";
  // Unknown handler → 404 before the stream starts; the stream itself checks again.
  await deps.registry.getEventHandler({ appId, id });
  if (ctx.method === "HEAD") {
    // The stream's headers, and no stream: a HEAD response has no body to hold open.
    ctx.status = 200;
    ctx.set("Content-Type", XMS_TYPE);
    return;
  }

  const res = ctx.res;
  ctx.respond = false;
  // Koa is done with this request: the stream lives on with the raw response only, so that an
  // idle stream does not hold Koa's context objects.
  const push = pushCallOf(deps.hub.watchEvents);
  if (push) {
    holdPushed(res, appId, id, deps, push);
    return;
  }
  hold(res, appId, id, deps).catch((err: unknown) => {
    deps.logger.error({ err, app: appId, handler: id }, "event stream failed");
    res.destroy();
  });
}

/**
 * The stream when the core can push it (in process): its events are framed and written as the core
 * sends them, and nothing waits per idle stream but the sink below.
 */
function holdPushed(
  res: ServerResponse,
  appId: string,
  id: string,
  deps: XmsDeps,
  push: PushCall<WatchEventsRequestInit, WatchEventsResponse>,
): void {
  releaseKoaContext(res);
  res.writeHead(200, { "Content-Type": XMS_TYPE, "Cache-Control": "no-cache" });
  res.flushHeaders();
  push({ appId, handlerId: id }, new XmsSink(res, keepalivesOf(deps), appId, id, deps.logger));
}

/**
 * One timer for the keepalives of every pushed stream of a router: a timer per idle stream would
 * cost more than the rest of it. A stream gets its first keepalive within one interval of opening.
 */
class Keepalives {
  private readonly sinks = new Set<XmsSink>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  add(sink: XmsSink): void {
    this.sinks.add(sink);
    this.timer ??= setInterval(() => {
      for (const s of this.sinks) s.keepalive();
    }, this.ms);
  }

  delete(sink: XmsSink): void {
    this.sinks.delete(sink);
    if (this.sinks.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const keepalives = new WeakMap<XmsDeps, Keepalives>();

function keepalivesOf(deps: XmsDeps): Keepalives {
  let k = keepalives.get(deps);
  if (!k) keepalives.set(deps, (k = new Keepalives(deps.keepaliveMs)));
  return k;
}

/**
 * Koa keeps a request's context (its request, response, state, router params) until the response
 * ends: on-finished holds Koa's error listener, and its own listeners on the response and socket,
 * until the response emits 'end' or 'finish' (or the socket closes). A long-held stream that Koa has
 * let go (`respond = false`) would hold them as long as it lives, more than the rest of the stream.
 * So the listener is dropped and on-finished told that Koa's part is over ('end', which a response
 * itself never emits): what the listener did for a finished request (report a socket error of
 * the response) the sink does here (the client going ends the stream).
 */
function releaseKoaContext(res: ServerResponse): void {
  const pending = (res as { __onFinished?: { queue?: unknown[] | null } }).__onFinished;
  if (!pending?.queue) return;
  pending.queue = [];
  res.emit("end");
}

type WatchEventsRequestInit = Parameters<LegacyDeps["hub"]["watchEvents"]>[0];

/**
 * An XMS response as the core's sink: events framed and written, keepalives while it is idle. A
 * full socket buffer holds the core's next events in its bounded queue until the socket drains;
 * the client going cancels the core's stream.
 */
class XmsSink implements StreamSink<WatchEventsResponse> {
  /** The client went (the response closed before the core ended the stream). */
  gone = false;
  private listener: SinkListener | undefined;
  private waiting = false;
  private onDrain: (() => void) | undefined;
  private readonly onClose = () => {
    this.gone = true;
    this.listener?.cancel();
  };

  constructor(
    private readonly res: ServerResponse,
    private readonly keepalives: Keepalives,
    private readonly appId: string,
    private readonly id: string,
    private readonly logger: Logger,
  ) {
    res.on("close", this.onClose);
    keepalives.add(this);
  }

  /** Keepalives keep idle connections and proxies open; skipped while the socket is backed up. */
  keepalive(): void {
    if (!this.res.writableNeedDrain) this.res.write(KEEPALIVE_FRAME);
  }

  send(response: WatchEventsResponse): boolean {
    if (this.gone) return true;
    // Events an XMS client cannot read (not of the schema's types) are passed over.
    const frame = response.event && eventFrame(response.event);
    if (!frame || this.res.write(frame)) return true;
    if (!this.waiting) {
      this.waiting = true;
      this.onDrain ??= () => {
        this.waiting = false;
        this.listener?.drain();
      };
      this.res.once("drain", this.onDrain);
    }
    return false;
  }

  pendingBytes(): number {
    return this.res.writableLength;
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
    if (this.gone) listener.cancel();
  }

  end(): void {
    this.close(false);
  }

  fail(error: unknown): void {
    if (!this.gone)
      this.logger.info({ app: this.appId, handler: this.id, reason: reasonOf(error) ?? String(error) }, "event stream ended by the core");
    this.close(true);
  }

  /** The core ended the stream: the response ends, or, if it failed while the client was not reading, is cut. */
  private close(failed: boolean): void {
    const res = this.res;
    this.keepalives.delete(this);
    res.off("close", this.onClose);
    if (this.onDrain) res.off("drain", this.onDrain);
    if (failed && this.waiting) res.destroy();
    else if (!res.writableEnded && !res.destroyed) res.end();
  }
}

async function hold(res: ServerResponse, appId: string, id: string, deps: XmsDeps): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.on("close", onClose);
  res.writeHead(200, { "Content-Type": XMS_TYPE, "Cache-Control": "no-cache" });
  res.flushHeaders();
  // Keepalives keep idle connections and proxies open; skipped while the socket is backed up.
  const keepalive = setInterval(() => {
    if (!res.writableNeedDrain) res.write(KEEPALIVE_FRAME);
  }, deps.keepaliveMs);
  const events = deps.hub.watchEvents({ appId, handlerId: id }, { signal: gone.signal })[Symbol.asyncIterator]();
  try {
    let pending = events.next();
    for (;;) {
      const { done, value } = await pending;
      if (done) break;
      // Events an XMS client cannot read (not of the schema's types) are passed over.
      const frame = value.event && eventFrame(value.event);
      const flowing = !frame || res.write(frame);
      // Pulled at once, so that while the client is not reading, the core's verdict (it ends a
      // stream that falls too far behind) is seen and the connection let go.
      pending = events.next();
      if (!flowing && (await stalled(res, gone.signal, pending))) {
        res.destroy();
        await pending;
      }
    }
  } catch (err) {
    if (!gone.signal.aborted) {
      deps.logger.info({ app: appId, handler: id, reason: reasonOf(err) ?? String(err) }, "event stream ended by the core");
    }
  } finally {
    clearInterval(keepalive);
    res.off("close", onClose);
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}

/** Waits until the socket takes more (false), or the core ended the stream meanwhile (true). */
async function stalled(res: ServerResponse, gone: AbortSignal, next: Promise<unknown>): Promise<boolean> {
  const coreEnded = next.then(
    () => new Promise<boolean>(() => undefined), // an event: keep waiting for the socket
    () => true,
  );
  return Promise.race([drained(res, gone).then(() => false), coreEnded]);
}

/** Waits until the socket takes more, or the client is gone. */
async function drained(res: ServerResponse, gone: AbortSignal): Promise<void> {
  try {
    await once(res, "drain", { signal: gone });
  } catch {
    // aborted: the loop ends with the watch, which the same signal cancels
  }
}
