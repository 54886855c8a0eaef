import { EventEmitter } from "node:events";
import { decodeEvent } from "./decode-event.js";
import { create } from "@bufbuild/protobuf";
import { EventKind, type Event } from "../gen/herald/v1/event_pb.js";
import type { HandlerChange } from "../gen/herald/v1/handler_pb.js";
import { WatchEventsResponseSchema, type WatchEventsResponse } from "../gen/herald/v1/hub_pb.js";
import type { Bus } from "../bus/bus.js";
import { wrapField1 } from "../bus/envelope.js";
import { getEncoded, setEncoded } from "../wire/pre-encoded.js";
import { pooledBytes } from "../wire/pooled-bytes.js";
import type { StreamFlow } from "../wire/stream-flow.js";
import type { SinkListener, StreamSink } from "../wire/push-stream.js";
import type { Logger } from "../logger.js";
import { defaultWatchConfig } from "./watch-config.js";

export interface FanOutOptions {
  /** Events a watcher may have queued before it is ended as too slow. */
  queueLimit: number;
  /** Bytes a watcher may have waiting (queued, or taken by its transport and not yet sent) before it is ended as too slow. */
  queueBytes: number;
  /** Page size when filling a gap from history. */
  historyPage: number;
  /**
   * Deliveries made in one turn of the event loop. An event for more watchers than this goes out
   * in slices, so that sockets flush (and readers start) while the rest is still being written;
   * events behind it wait, so each watcher still gets them in order. Default: the watch config's.
   */
  fanOutSlice?: number;
  /** Most events a batching watcher gets in one response (it may ask for fewer). Default: the watch config's. */
  maxBatch?: number;
  logger: Logger;
}

/** Routing attributes an event must have; empty or "any" matches everything. */
export interface Route {
  type: string;
  resourceType: string;
  resourceId: string;
}

/** What a watcher wants: events matching any of `routes` (none: nothing). */
export interface WatchFilter {
  routes: readonly Route[];
  /** Only events that target this subscriber (with its os type, for os-filtered pushes). */
  ksid: string;
  osType: string;
  /** A stream of this event handler: its changes (EVENT_KIND_HANDLER) replace `routes`. */
  handler?: { id: string; revision: bigint };
}

/** Observable moments, for metrics and tests. */
export interface FanOutEvents {
  /** A watcher is registered and receives live events. */
  watch: [appId: string];
  /** A watcher is gone (closed by its reader, or ended). */
  unwatch: [appId: string];
  /** A watcher was ended by the server (not closed by its reader). */
  ended: [appId: string, kind: WatcherEnded["kind"]];
}

/** Why a watcher stopped receiving; the RPC layer turns it into a status with a resume offset. */
export class WatcherEnded extends Error {
  override readonly name = "WatcherEnded";
  constructor(
    readonly kind: "slow" | "shutdown" | "unavailable",
    message: string,
  ) {
    super(message);
  }
}

/**
 * The per-process index of live watchers. One bus subscription per app with watchers, however many
 * watchers; each event is decoded once and its response encoded once, then queued to every
 * matching watcher: they all hold the same response object and the same bytes. A watcher whose
 * queue is full (in events or bytes) is ended; the others never wait for it.
 *
 * Offsets of an app are contiguous, so a jump shows a missed message (e.g. across a reconnection):
 * the channel fills it from history before going on, and again after every bus resync.
 */
export class FanOut extends EventEmitter<FanOutEvents> {
  /** What the fan-out did, counted as it goes (the metrics read it). */
  readonly stats: FanOutStats = { gapFills: 0, resyncFills: 0, filledEvents: 0, replays: 0 };
  private readonly channels = new Map<string, AppChannel>();
  private closed = false;
  /** One for all watchers. */
  private readonly limits: WatcherLimits;

  constructor(
    private readonly bus: Bus,
    private readonly options: FanOutOptions,
  ) {
    super();
    this.limits = { events: options.queueLimit, bytes: options.queueBytes };
    bus.onResync(() => {
      for (const channel of this.channels.values()) channel.catchUp();
    });
  }

  /**
   * Registers a watcher; resolves once live events flow to it. With `maxBatch` above 1 (capped by
   * the options'; 0, a request without it, is 1) its responses carry their events in `events`, as many as are waiting, up to that.
   */
  async watch(appId: string, filter: WatchFilter, maxBatch = 1): Promise<Watcher> {
    if (this.closed) throw new WatcherEnded("shutdown", "server is shutting down");
    let channel = this.channels.get(appId);
    if (!channel) {
      channel = new AppChannel(appId, this.bus, this.options, this, this.stats, () => this.channels.delete(appId));
      this.channels.set(appId, channel);
    }
    // At most the queue's bound: a batch is sent once full, before the bound could end a watcher with room.
    const batch = Math.max(1, Math.min(maxBatch, this.options.maxBatch ?? defaultWatchConfig.maxBatch, this.options.queueLimit));
    const watcher = new Watcher(filter, this.limits, channel, batch);
    channel.add(watcher);
    try {
      await channel.ready;
    } catch (err) {
      watcher.close();
      throw err;
    }
    this.emit("watch", appId);
    return watcher;
  }

  /** Ends every watcher (shutdown); later watch calls fail. */
  closeAll(): void {
    this.closed = true;
    for (const channel of this.channels.values()) {
      channel.endAll(new WatcherEnded("shutdown", "server is shutting down"));
    }
  }

  /** Watchers now registered, for metrics and tests. */
  get watcherCount(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.size;
    return n;
  }

  /** Events and bytes waiting for their readers, over every watcher (read when metrics are scraped). */
  queued(): { events: number; bytes: number } {
    const total = { events: 0, bytes: 0 };
    for (const c of this.channels.values()) c.addQueued(total);
    return total;
  }
}

/** What the fan-out counts. */
export interface FanOutStats {
  /** Gaps in an app's offsets (missed live messages) filled from history. */
  gapFills: number;
  /** Catch-ups from history after the bus reconnected. */
  resyncFills: number;
  /** Events dispatched from history by those fills. */
  filledEvents: number;
  /** Streams that started with a history replay (`resume_after`); counted by the watch streams. */
  replays: number;
}

class AppChannel {
  readonly ready: Promise<void>;
  private readonly watchers = new Set<Watcher>();
  /** Offset of the last event dispatched; events at or below it are duplicates. */
  private last: bigint | undefined;
  /** While a gap is being filled from history, live messages wait here in order. */
  private pending: Uint8Array[] | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private released = false;
  /** Dispatches being sliced (the first) and waiting behind it, in order. */
  private readonly backlog: SlicedDispatch[] = [];
  private readonly slice: number;
  /** A slice is running; `drainAll`: it is to finish the whole backlog; `scheduled`: the next one is. */
  private slicing = false;
  private drainAll = false;
  private scheduled = false;
  /** The watchers as an array, shared by the sliced dispatches until the set changes. */
  private snapshot: Watcher[] | undefined;

  constructor(
    readonly appId: string,
    private readonly bus: Bus,
    private readonly options: FanOutOptions,
    readonly events: EventEmitter<FanOutEvents>,
    private readonly stats: FanOutStats,
    private readonly onEmpty: () => void,
  ) {
    this.slice = options.fanOutSlice ?? defaultWatchConfig.fanOutSlice;
    this.ready = this.open();
    // A failed open is reported to the watchers awaiting `ready`; nothing else must see it.
    this.ready.catch(() => this.release());
  }

  get size(): number {
    return this.watchers.size;
  }

  private async open(): Promise<void> {
    // Latest offset first, then subscribe: anything published in between shows up as a gap.
    const { latest } = await this.bus.history(this.appId, 0n, 0);
    this.last = latest;
    const unsubscribe = await this.bus.subscribe(this.appId, (message) => this.receive(message));
    if (this.released) await unsubscribe();
    else this.unsubscribe = unsubscribe;
  }

  add(watcher: Watcher): void {
    this.watchers.add(watcher);
    this.snapshot = undefined;
  }

  remove(watcher: Watcher): void {
    if (!this.watchers.delete(watcher)) return;
    this.snapshot = undefined;
    this.events.emit("unwatch", this.appId);
    if (this.watchers.size === 0) this.release();
  }

  endAll(reason: WatcherEnded): void {
    for (const w of [...this.watchers]) w.end(reason);
  }

  addQueued(total: { events: number; bytes: number }): void {
    for (const w of this.watchers) {
      total.events += w.queuedEvents;
      total.bytes += w.waitingBytes;
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onEmpty();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    unsubscribe?.().catch((err: unknown) => this.options.logger.warn({ app: this.appId, err: String(err) }, "unsubscribe failed"));
  }

  private receive(message: Uint8Array): void {
    if (this.pending) {
      this.pending.push(message);
      return;
    }
    const event = decodeEvent(message, this.options.logger);
    if (this.last !== undefined && event.offset > this.last + 1n) {
      this.stats.gapFills++;
      this.pending = [message];
      void this.fill();
      return;
    }
    this.dispatch(event, message);
  }

  /** After a reconnection: fetch whatever was published while we were away. */
  catchUp(): void {
    if (this.pending || this.released) return;
    this.stats.resyncFills++;
    this.pending = [];
    void this.fill();
  }

  /** Dispatches history after `last`, then the pending live messages, until none is left. */
  private async fill(): Promise<void> {
    try {
      for (;;) {
        const page = await this.bus.history(this.appId, this.last ?? 0n, this.options.historyPage);
        this.stats.filledEvents += page.messages.length;
        for (const message of page.messages) this.dispatch(decodeEvent(message, this.options.logger), message);
        if (page.messages.length === this.options.historyPage) continue;
        const pending = this.pending ?? [];
        this.pending = undefined;
        for (const message of pending) this.receive(message);
        return;
      }
    } catch (err) {
      // Without history the gap cannot be filled: end the watchers, they resume from their offset.
      this.options.logger.warn({ app: this.appId, err: String(err) }, "cannot fill gap from history");
      this.pending = undefined;
      this.endAll(new WatcherEnded("unavailable", "event history is unavailable; resume later"));
    }
  }

  private dispatch(event: Event, message: Uint8Array): void {
    if (this.last !== undefined && event.offset <= this.last) return;
    this.last = event.offset;
    if (this.watchers.size === 0) return;
    if (event.kind === EventKind.HANDLER) {
      const change = event.handlerChange;
      if (change) this.each((w) => w.apply(change));
      return;
    }
    const response = create(WatchEventsResponseSchema, { event });
    const bytes = wrapField1(message);
    setEncoded(response, bytes);
    const size = bytes.byteLength;
    const targets = event.targets.length > 8 ? new Set(event.targets) : event.targets;
    this.each((w) => {
      if (w.matches(event, targets)) w.push(response, size);
    });
  }

  /**
   * Calls `apply` for every watcher registered now: at once when there are few and nothing is
   * being sliced, else in slices of `fanOutSlice` a turn, behind the dispatches already waiting.
   * A watcher registered after this call does not get it (as if it had registered a moment later).
   * The wait is bounded: past `queueLimit` waiting dispatches, all of them are finished at once.
   */
  private each(apply: (w: Watcher) => void): void {
    const slice = this.slice;
    if (this.backlog.length === 0 && this.watchers.size <= slice) {
      // Deleting the watcher being visited (an ended one removes itself) is safe in a Set's iteration.
      for (const w of this.watchers) apply(w);
      return;
    }
    this.snapshot ??= [...this.watchers];
    this.backlog.push({ watchers: this.snapshot, at: 0, apply });
    if (this.backlog.length > this.options.queueLimit) this.runSlices(Number.POSITIVE_INFINITY);
    else if (this.backlog.length === 1) this.runSlices(slice); // else it waits for the scheduled turn
  }

  /** Makes up to `budget` deliveries from the backlog, in order; the rest goes on in a later turn. */
  private runSlices(budget: number): void {
    if (this.slicing) {
      if (budget !== Number.POSITIVE_INFINITY) return;
      // Called from within a slice (an apply that dispatched): the running loop finishes the backlog.
      this.drainAll = true;
      return;
    }
    this.slicing = true;
    try {
      while (this.backlog.length > 0 && (budget > 0 || this.drainAll)) {
        const job = this.backlog[0] as SlicedDispatch;
        const end = this.drainAll ? job.watchers.length : Math.min(job.watchers.length, job.at + budget);
        for (let i = job.at; i < end; i++) job.apply(job.watchers[i] as Watcher);
        budget -= end - job.at;
        job.at = end;
        if (end === job.watchers.length) this.backlog.shift();
      }
    } finally {
      this.slicing = false;
      this.drainAll = false;
    }
    if (this.backlog.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.nextSlice);
    }
  }

  private readonly nextSlice = (): void => {
    this.scheduled = false;
    this.runSlices(this.slice);
  };
}

/** A dispatch going out in slices: `apply` for each of `watchers`, from index `at`. */
interface SlicedDispatch {
  readonly watchers: readonly Watcher[];
  at: number;
  readonly apply: (w: Watcher) => void;
}

const matchesAttr = (want: string, have: string) => want === "" || want === "any" || want === have;
const matchesRoute = (r: Route, e: Event) =>
  matchesAttr(r.type, e.type) && matchesAttr(r.resourceType, e.resourceType) && matchesAttr(r.resourceId, e.resourceId);

/** The bounds of a watcher's queue. */
export interface WatcherLimits {
  events: number;
  bytes: number;
}

/** Encoded size of a queued response (fan-out records it with setEncoded). */
const sizeOf = (response: WatchEventsResponse) => getEncoded(response)?.byteLength ?? 0;

/** The last batch built: the watchers of one fan-out mostly take the same group, and share it (and its frame). */
let lastGroup: readonly WatchEventsResponse[] = [];
let lastBatch: WatchEventsResponse | undefined;

/**
 * One response carrying the events of `queue[start..end)` (single-event responses, in order) in
 * `events`. Its encoding, when each part's is known: each part's bytes, field 1, retagged as field 2
 * (the same length-delimited value), one after the other.
 */
function batchOf(queue: readonly WatchEventsResponse[], start: number, end: number): WatchEventsResponse {
  if (lastBatch && sameGroup(queue, start, end)) return lastBatch;
  const group = queue.slice(start, end);
  const response = create(WatchEventsResponseSchema, { events: group.map((r) => r.event as Event) });
  const parts = group.map(getEncoded);
  if (parts.every((p) => p !== undefined && p[0] === EVENT_TAG)) {
    let length = 0;
    for (const p of parts as Uint8Array[]) length += p.byteLength;
    const bytes = pooledBytes(length);
    let at = 0;
    for (const p of parts as Uint8Array[]) {
      bytes.set(p, at);
      bytes[at] = EVENTS_TAG;
      at += p.byteLength;
    }
    setEncoded(response, bytes);
  }
  lastGroup = group;
  lastBatch = response;
  return response;
}

function sameGroup(queue: readonly WatchEventsResponse[], start: number, end: number): boolean {
  if (end - start !== lastGroup.length) return false;
  for (let i = start; i < end; i++) if (queue[i] !== lastGroup[i - start]) return false;
  return true;
}

/** Field 1 (`event`) and field 2 (`events`), length-delimited: the first byte of each part. */
const EVENT_TAG = (1 << 3) | 2;
const EVENTS_TAG = (2 << 3) | 2;

/**
 * One watcher: a bounded queue, read as an async iterator, or pushing to a transport's sink (`run`),
 * when it queues only while the sink has no room. Bounded in events and in bytes; the bytes count
 * what is queued plus what its transport has taken and not yet sent (the sink's, else the
 * transport's StreamFlow if it has one, else the last response handed out, until the next pull).
 */
export class Watcher implements AsyncIterableIterator<WatchEventsResponse>, SinkListener {
  private queue: WatchEventsResponse[] = [];
  /** The encoded size of each response in `queue`, by index (not looked up again when it leaves). */
  private sizes: number[] = [];
  private head = 0;
  /** Encoded bytes of the responses in `queue` from `head`. */
  private queuedBytes = 0;
  /** Bytes of the response handed out last, counted until the reader pulls again (without a flow). */
  private handedBytes = 0;
  private flow: StreamFlow | undefined;
  private ended: WatcherEnded | null | undefined; // undefined: live; null: closed normally
  private wake: (() => void) | undefined;

  private routes: readonly Route[];
  private revision: bigint;

  // Push mode (run): the sink, whether it has room, the offset of the last response sent, what a
  // WatcherEnded becomes, and whether the sink was ended.
  private sink: StreamSink<WatchEventsResponse> | undefined;
  private blocked = false;
  private sent: bigint | undefined;
  private failure: ((ended: WatcherEnded, lastSent: bigint | undefined) => unknown) | undefined;
  private settled = false;

  /** Batching (maxBatch above 1): a flush of what this turn queued is scheduled. */
  private flushScheduled = false;

  constructor(
    private readonly filter: WatchFilter,
    private readonly limits: WatcherLimits,
    private readonly channel: AppChannel,
    /** Events a response may carry (above 1: in `events`, see batchOf). */
    readonly maxBatch = 1,
  ) {
    this.routes = filter.routes;
    this.revision = filter.handler?.revision ?? 0n;
  }

  matches(event: Event, targets: readonly string[] | ReadonlySet<string> = event.targets): boolean {
    if (event.kind === EventKind.HANDLER) return false;
    const f = this.filter;
    if (!this.routes.some((r) => matchesRoute(r, event))) return false;
    if (f.ksid === "") return true;
    if (event.osType !== "" && event.osType !== f.osType) return false;
    if (event.targets.length === 0) return true;
    return targets instanceof Set ? targets.has(f.ksid) : (targets as readonly string[]).includes(f.ksid);
  }

  /**
   * A change to this watcher's event handler (if it has one, and the change is newer than what it
   * has): new routes, or, deleted, the end of the stream once the events already queued are read.
   */
  apply(change: HandlerChange): void {
    const h = change.handler;
    if (!h || this.filter.handler?.id !== h.id || this.ended !== undefined) return;
    if (change.deleted) {
      this.ended = null;
      this.channel.remove(this);
      this.signal();
      if (this.sink) this.flush();
      return;
    }
    if (h.revision <= this.revision) return;
    this.revision = h.revision;
    this.routes = h.subscriptions;
  }

  /** The transport under the stream that reads this watcher, when it tells how much it holds. */
  attach(flow: StreamFlow | undefined): void {
    this.flow = flow;
  }

  /** Events queued for the reader. */
  get queuedEvents(): number {
    return this.queue.length - this.head;
  }

  /** Bytes waiting for the reader: queued, and taken by the transport but not yet sent. */
  get waitingBytes(): number {
    return this.queuedBytes + (this.sink ? this.sink.pendingBytes() : this.flow ? this.flow.pendingBytes() : this.handedBytes);
  }

  /**
   * Pushes to `sink` from now on: what is queued, then each event as it comes, queued only while
   * the sink has no room; responses at or below offset `after` are skipped (already sent, e.g. from
   * history). The sink is ended when the watcher is closed (by its reader, the sink's cancel, or
   * its handler's deletion once the queue is sent), and failed with `failure` of the WatcherEnded
   * that ended it and the last offset sent, where to resume (a slow one at once, others after what
   * is queued).
   */
  run(
    sink: StreamSink<WatchEventsResponse>,
    after: bigint | undefined,
    failure: (ended: WatcherEnded, lastSent: bigint | undefined) => unknown,
  ): void {
    this.sink = sink;
    this.sent = after;
    this.failure = failure;
    sink.listen(this);
    this.flush();
  }

  /** The sink has room again. */
  drain(): void {
    this.blocked = false;
    if (this.sink) this.flush();
  }

  /** The sink's call is over. */
  cancel(): void {
    this.close();
  }

  /** Sends what is queued while the sink has room (an ended watcher: all of it), then settles if over. */
  private flush(): void {
    while (this.head < this.queue.length && (!this.blocked || this.ended)) {
      if (this.maxBatch > 1) {
        this.deliverBatch();
        continue;
      }
      this.queuedBytes -= this.sizes[this.head] as number;
      const response = this.queue[this.head++] as WatchEventsResponse;
      this.deliver(response);
    }
    if (this.head === this.queue.length) {
      if (this.head > 0) this.dropQueue();
      if (this.ended !== undefined) this.settle();
    } else this.compact();
  }

  private deliver(response: WatchEventsResponse): void {
    const offset = response.event?.offset ?? 0n;
    if (this.sent !== undefined && offset <= this.sent) return; // already sent from history
    this.sent = offset;
    if (!(this.sink as StreamSink<WatchEventsResponse>).send(response)) this.blocked = true;
  }

  /**
   * Takes up to maxBatch queued responses off the queue; the batch of those not yet sent (from
   * history, whose offsets are at or below `sent`: the first ones, as offsets increase), if any.
   */
  private take(): WatchEventsResponse | undefined {
    const end = Math.min(this.queue.length, this.head + this.maxBatch);
    let start = this.head;
    const sent = this.sent;
    if (sent !== undefined) while (start < end && ((this.queue[start] as WatchEventsResponse).event?.offset ?? 0n) <= sent) start++;
    for (let i = this.head; i < end; i++) this.queuedBytes -= this.sizes[i] as number;
    this.head = end;
    if (start === end) return undefined;
    this.sent = (this.queue[end - 1] as WatchEventsResponse).event?.offset ?? 0n;
    return batchOf(this.queue, start, end);
  }

  /** Sends up to maxBatch queued responses as one batch response. */
  private deliverBatch(): void {
    const batch = this.take();
    if (batch && !(this.sink as StreamSink<WatchEventsResponse>).send(batch)) this.blocked = true;
  }

  /** Batching: sends what this turn queued once the turn is over (or at once, when a batch is full). */
  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    if (this.sink) this.flush();
  };

  private settle(): void {
    const sink = this.sink;
    if (!sink || this.settled) return;
    this.settled = true;
    const ended = this.ended;
    if (!ended) sink.end();
    else sink.fail(this.failure ? this.failure(ended, this.sent) : ended);
  }

  /** Queues a response of `size` encoded bytes, or ends the watcher if that would exceed a bound. */
  push(response: WatchEventsResponse, size = sizeOf(response)): void {
    if (this.ended !== undefined) return;
    if (this.sink && !this.blocked) {
      if (this.maxBatch <= 1) {
        if (this.head === this.queue.length) {
          this.deliver(response);
          return;
        }
      } else {
        // Batching with room: what else this turn brings goes in the same response, sent once the
        // turn is over or the batch is full. Not bounded here, as an event handed straight to a
        // transport with room is not: at most maxBatch wait, and the bounds apply once it is full.
        this.queue.push(response);
        this.sizes.push(size);
        this.queuedBytes += size;
        if (this.queue.length - this.head >= this.maxBatch) this.flush();
        else if (!this.flushScheduled) {
          this.flushScheduled = true;
          process.nextTick(this.flushLater);
        }
        return;
      }
    }
    if (this.queue.length - this.head >= this.limits.events) {
      this.end(new WatcherEnded("slow", `watcher fell behind by ${this.limits.events} events`));
      return;
    }
    // Only behind a queued event: a reader that keeps up still gets an event larger than the bound,
    // even while its transport is still sending the one before.
    if (this.queue.length > this.head && this.waitingBytes + size > this.limits.bytes) {
      this.end(new WatcherEnded("slow", `watcher fell behind by more than ${this.limits.bytes} bytes`));
      return;
    }
    this.queue.push(response);
    this.sizes.push(size);
    this.queuedBytes += size;
    this.signal();
  }

  /** Ends the watcher: the reader gets the events already queued, then `reason` (a slow one: at once). */
  end(reason: WatcherEnded): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    // A slow watcher is ended at once: draining its backlog would keep it slow.
    if (reason.kind === "slow") this.dropQueue();
    this.channel.remove(this);
    this.channel.events.emit("ended", this.channel.appId, reason.kind);
    this.signal();
    // A transport waiting for a stalled socket would not pull the end until the reader reads.
    this.flow?.interrupt();
    if (this.sink) this.flush();
  }

  close(): void {
    if (this.ended === undefined) this.ended = null;
    this.dropQueue();
    this.channel.remove(this);
    this.signal();
    if (this.sink) this.settle();
  }

  /** Drops the read part of a long queue once it is most of it. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  private dropQueue(): void {
    this.queue = [];
    this.sizes = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async next(): Promise<IteratorResult<WatchEventsResponse>> {
    // Pulling again means the transport has room: what it was handed last is on its way.
    this.handedBytes = 0;
    for (;;) {
      if (this.head < this.queue.length && this.maxBatch > 1) {
        const value = this.take();
        this.compact();
        if (!value) continue;
        this.handedBytes = sizeOf(value);
        return { value, done: false };
      }
      if (this.head < this.queue.length) {
        const size = this.sizes[this.head] as number;
        const value = this.queue[this.head++] as WatchEventsResponse;
        this.queuedBytes -= size;
        this.handedBytes = size;
        this.compact();
        return { value, done: false };
      }
      if (this.ended === null) return { value: undefined, done: true };
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<WatchEventsResponse>> {
    this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
