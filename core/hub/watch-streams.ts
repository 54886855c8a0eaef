import { Code, type HandlerContext } from "@connectrpc/connect";
import { decodeEvent } from "./decode-event.js";
import { create } from "@bufbuild/protobuf";
import type { Event } from "../gen/herald/v1/event_pb.js";
import { WatchEventsResponseSchema, type WatchEventsResponse } from "../gen/herald/v1/hub_pb.js";
import { HandlerChangeSchema } from "../gen/herald/v1/handler_pb.js";
import type { Bus } from "../bus/bus.js";
import type { HandlerStore } from "../store/handler-store.js";
import type { StatusStore } from "../store/status-store.js";
import { handlerNotFound, heraldError } from "../rpc/errors.js";
import type { Logger } from "../logger.js";
import { streamFlowKey } from "../wire/stream-flow.js";
import { WatcherEnded, type FanOut, type Watcher, type WatchFilter } from "./fan-out.js";
import type { HandlerCursors } from "./handler-cursors.js";

export interface WatchStreamsDeps {
  bus: Bus;
  fanOut: FanOut;
  handlers: HandlerStore;
  status: StatusStore;
  cursors: HandlerCursors;
  /** History page size when a watcher resumes. */
  historyPage: number;
  logger: Logger;
}

export interface WatchStreams {
  /**
   * The events of an app that pass `filter`: history after `resumeAfter` (when set), then live,
   * without gap or duplicate. A ksid watcher's every event is marked delivered to it.
   */
  events(appId: string, filter: WatchFilter, resumeAfter: bigint | undefined, ctx: HandlerContext): AsyncIterable<WatchEventsResponse>;
  /** The events of an event handler's subscriptions, followed live, from where its streams stopped. */
  handler(appId: string, id: string, resumeAfter: bigint | undefined, ctx: HandlerContext): AsyncIterable<WatchEventsResponse>;
}

/**
 * The streaming half of WatchEvents: registering with the fan-out, replaying history, handing on
 * live events, and ending with the status and offset to resume from. Input is checked by the caller.
 */
export function createWatchStreams(deps: WatchStreamsDeps): WatchStreams {
  const { bus, fanOut, handlers, status, cursors } = deps;

  return {
    async *events(appId, filter, resumeAfter, ctx) {
      const watcher = await watch(appId, filter, resumeAfter);
      // A ksid watcher only gets events that target it or nobody (Watcher.matches): each one it
      // takes is a delivery. Marked once the transport pulls the next, i.e. has written this one.
      const delivered = filter.ksid === "" ? undefined : (event: Event) => markDelivered(event, filter.ksid);
      yield* stream(appId, watcher, resumeAfter, ctx, delivered);
    },
    handler,
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
    // The transport's view of its socket, if it has one: its unsent bytes count against the bound.
    watcher.attach(ctx.values.get(streamFlowKey));
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
  async function* handler(
    appId: string,
    id: string,
    resumeAfter: bigint | undefined,
    ctx: HandlerContext,
  ): AsyncIterable<WatchEventsResponse> {
    const stored = await handlers.getHandler(appId, id);
    if (!stored) throw handlerNotFound(appId, id);
    const watcher = await watch(
      appId,
      { routes: stored.subscriptions, ksid: "", osType: "", handler: { id, revision: stored.revision } },
      resumeAfter,
    );
    let opened = false;
    try {
      // A change made while the watcher was being registered was announced before it listened.
      const now = await handlers.getHandler(appId, id);
      watcher.apply(create(HandlerChangeSchema, { handler: now ?? stored, deleted: !now }));
      const saved = await cursors.open(appId, id);
      opened = true;
      const from = resumeAfter ?? (await withinHistory(appId, saved));
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
      deps.logger.warn(
        { app: appId, saved: String(after), from: String(start) },
        "event handler position is outside history; continuing from what it holds",
      );
    }
    return start;
  }

  /** Fire and forget: a status write never holds up or ends a stream. */
  function markDelivered(event: Event, ksid: string): void {
    status
      .markDelivered(event.requestId || event.msgId, event.msgId, ksid, Date.now())
      .catch((err: unknown) => deps.logger.warn({ msgId: event.msgId, ksid, err: String(err) }, "cannot record delivery"));
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
        fanOut.stats.replays++;
      }
      for (const message of page.messages) {
        const event = decodeEvent(message, deps.logger);
        cursor = event.offset;
        yield event;
      }
      if (page.messages.length < deps.historyPage) return;
    }
  }
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
