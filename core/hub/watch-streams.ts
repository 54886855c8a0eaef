import { Code } from "@connectrpc/connect";
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
import { ForwardingSink, type SinkListener, type StreamSink } from "../wire/push-stream.js";
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
   * The events of an app that pass `filter`, sent to `sink`: history after `resumeAfter` (when
   * set), then live, without gap or duplicate. A ksid watcher's every event is marked delivered to
   * it. The sink is ended when the stream ends (failed with its status, e.g. SLOW_CONSUMER with
   * where to resume); the promise settles once the stream is live (rejected: it could not start,
   * and the sink is not ended).
   */
  events(
    appId: string,
    filter: WatchFilter,
    resumeAfter: bigint | undefined,
    sink: StreamSink<WatchEventsResponse>,
    maxBatch?: number,
  ): Promise<void>;
  /** The events of an event handler's subscriptions, followed live, from where its streams stopped. */
  handler(
    appId: string,
    id: string,
    resumeAfter: bigint | undefined,
    sink: StreamSink<WatchEventsResponse>,
    maxBatch?: number,
  ): Promise<void>;
}

/**
 * The streaming half of WatchEvents: registering with the fan-out, replaying history, handing on
 * live events, and ending with the status and offset to resume from. Input is checked by the caller.
 * Push-style (core/wire/push-stream.ts): once live, a stream is its watcher writing to the sink, and
 * nothing is pending for it.
 */
export function createWatchStreams(deps: WatchStreamsDeps): WatchStreams {
  const { bus, fanOut, handlers, status, cursors } = deps;

  return {
    async events(appId, filter, resumeAfter, sink, maxBatch) {
      const watcher = await watch(appId, filter, resumeAfter, maxBatch);
      // A ksid watcher only gets events that target it or nobody (Watcher.matches): each one its
      // transport takes is a delivery.
      await stream(appId, watcher, resumeAfter, filter.ksid === "" ? sink : new DeliveredSink(sink, filter.ksid, markDelivered));
    },
    async handler(appId, id, resumeAfter, sink, maxBatch) {
      const { watcher, from } = await openHandler(appId, id, resumeAfter, maxBatch);
      try {
        await stream(appId, watcher, from, new HandlerSink(sink, cursors, appId, id));
      } catch (err) {
        cursors.close(appId, id); // the stream did not start: its sink, which would, is not ended
        throw err;
      }
    },
  };

  /** Registers a watcher; a fan-out refusal becomes the RPC's status. */
  async function watch(appId: string, filter: WatchFilter, resumeAfter: bigint | undefined, maxBatch?: number): Promise<Watcher> {
    try {
      return await fanOut.watch(appId, filter, maxBatch);
    } catch (err) {
      throw err instanceof WatcherEnded ? ended(err, resumeAfter) : err;
    }
  }

  /**
   * History after `resumeAfter` (when set), then live events, without gap or duplicate. Resolves
   * once live (the watcher ends the sink from then on); a failed replay rejects and ends nothing.
   */
  async function stream(
    appId: string,
    watcher: Watcher,
    resumeAfter: bigint | undefined,
    sink: StreamSink<WatchEventsResponse>,
  ): Promise<void> {
    if (resumeAfter === undefined) {
      watcher.run(sink, undefined, ended);
      return;
    }
    // Live events queue in the watcher (within its bounds) while history is sent.
    let last: bigint | null;
    try {
      last = await replayTo(appId, watcher, resumeAfter, sink);
    } catch (err) {
      watcher.close();
      throw err;
    }
    if (last === null) {
      watcher.close();
      sink.end();
      return;
    }
    watcher.run(sink, last, ended);
  }

  /**
   * Sends the history after `after` that the watcher matches, as the sink takes it; resolves with
   * the offset of the last event read (sent or filtered out), or null if the call was cancelled.
   */
  async function replayTo(appId: string, watcher: Watcher, after: bigint, sink: StreamSink<WatchEventsResponse>): Promise<bigint | null> {
    const flow = new ReplayFlow();
    sink.listen(flow);
    let last = after;
    // A batching watcher's history goes out in batches too (its reader reads `events` only).
    const batch: Event[] = [];
    const send = async (response: WatchEventsResponse) => {
      if (!sink.send(response)) await flow.drained();
    };
    for await (const event of replay(appId, after)) {
      if (flow.cancelled) return null;
      last = event.offset;
      if (!watcher.matches(event)) continue;
      if (watcher.maxBatch <= 1) await send(create(WatchEventsResponseSchema, { event }));
      else if (batch.push(event) === watcher.maxBatch) await send(create(WatchEventsResponseSchema, { events: batch.splice(0) }));
    }
    if (batch.length > 0 && !flow.cancelled) await send(create(WatchEventsResponseSchema, { events: batch }));
    return flow.cancelled ? null : last;
  }

  /** Opens an event handler's watcher and its cursor; resolves with where its stream starts. */
  async function openHandler(
    appId: string,
    id: string,
    resumeAfter: bigint | undefined,
    maxBatch: number | undefined,
  ): Promise<{ watcher: Watcher; from: bigint }> {
    const stored = await handlers.getHandler(appId, id);
    if (!stored) throw handlerNotFound(appId, id);
    const watcher = await watch(
      appId,
      { routes: stored.subscriptions, ksid: "", osType: "", handler: { id, revision: stored.revision } },
      resumeAfter,
      maxBatch,
    );
    let opened = false;
    try {
      // A change made while the watcher was being registered was announced before it listened.
      const now = await handlers.getHandler(appId, id);
      watcher.apply(create(HandlerChangeSchema, { handler: now ?? stored, deleted: !now }));
      const saved = await cursors.open(appId, id);
      opened = true;
      return { watcher, from: resumeAfter ?? (await withinHistory(appId, saved)) };
    } catch (err) {
      watcher.close();
      if (opened) cursors.close(appId, id);
      throw err;
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

/** A ksid watcher's sink: each event its transport takes is marked delivered to the subscriber. */
class DeliveredSink extends ForwardingSink<WatchEventsResponse> {
  constructor(
    inner: StreamSink<WatchEventsResponse>,
    private readonly ksid: string,
    private readonly mark: (event: Event, ksid: string) => void,
  ) {
    super(inner);
  }

  override send(response: WatchEventsResponse): boolean {
    const room = this.inner.send(response);
    if (response.event) this.mark(response.event, this.ksid);
    for (const event of response.events) this.mark(event, this.ksid);
    return room;
  }
}

/** An event handler's sink: its position follows what its transport takes; its cursor closes with the stream. */
class HandlerSink extends ForwardingSink<WatchEventsResponse> {
  constructor(
    inner: StreamSink<WatchEventsResponse>,
    private readonly cursors: HandlerCursors,
    private readonly appId: string,
    private readonly id: string,
  ) {
    super(inner);
  }

  override send(response: WatchEventsResponse): boolean {
    const room = this.inner.send(response);
    const last = response.event ?? response.events[response.events.length - 1];
    if (last) this.cursors.note(this.appId, this.id, last.offset);
    return room;
  }

  override end(): void {
    this.cursors.close(this.appId, this.id);
    this.inner.end();
  }

  override fail(error: unknown): void {
    this.cursors.close(this.appId, this.id);
    this.inner.fail(error);
  }
}

/** What the transport tells a history replay: room again, or the call is over. */
class ReplayFlow implements SinkListener {
  cancelled = false;
  private wake: (() => void) | undefined;

  drain(): void {
    this.signal();
  }

  cancel(): void {
    this.cancelled = true;
    this.signal();
  }

  drained(): Promise<void> {
    return this.cancelled ? Promise.resolve() : new Promise((resolve) => (this.wake = resolve));
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** A watcher's end as the RPC's status, with where to resume. */
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
