import type { HandlerStore } from "../store/handler-store.js";
import type { Logger } from "../logger.js";

interface Entry {
  appId: string;
  id: string;
  /** The last offset a stream of this handler on this instance delivered. */
  offset: bigint;
  /** Not yet written to the store. */
  dirty: boolean;
  /** Open streams of the handler on this instance. */
  streams: number;
}

/**
 * Where the streams of each event handler have delivered up to, so that a client reconnecting
 * (to this instance or another) continues after it. Offsets are noted in memory on every event and
 * written to the store every `flushMs` and when a stream ends: a crash replays at most that
 * window (at-least-once), a clean disconnect nothing.
 */
export class HandlerCursors {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly store: HandlerStore,
    private readonly options: { flushMs: number; logger: Logger },
  ) {}

  /** A stream of the handler opens: the offset to continue after (this instance's, if newer). */
  async open(appId: string, id: string): Promise<bigint> {
    const entry = this.entry(appId, id);
    entry.streams++;
    const stored = await this.store.handlerCursor(appId, id);
    return stored > entry.offset ? stored : entry.offset;
  }

  note(appId: string, id: string, offset: bigint): void {
    const entry = this.entry(appId, id);
    if (offset <= entry.offset) return;
    entry.offset = offset;
    entry.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      for (const e of this.entries.values()) if (e.dirty) this.write(e);
    }, this.options.flushMs);
  }

  /** A stream ends: its position is written now; the entry goes when no stream is left. */
  close(appId: string, id: string): void {
    const key = keyOf(appId, id);
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.streams--;
    const written = entry.dirty ? this.write(entry) : Promise.resolve();
    if (entry.streams <= 0) void written.then(() => entry.streams <= 0 && this.entries.get(key) === entry && this.entries.delete(key));
  }

  /** Writes everything pending and stops the timer (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of this.entries.values()) if (e.dirty) this.write(e);
    await Promise.allSettled([...this.writes]);
  }

  private entry(appId: string, id: string): Entry {
    const key = keyOf(appId, id);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { appId, id, offset: 0n, dirty: false, streams: 0 }));
    return entry;
  }

  private write(entry: Entry): Promise<void> {
    entry.dirty = false;
    const offset = entry.offset;
    const write = this.store.advanceHandlerCursor(entry.appId, entry.id, offset).catch((err: unknown) => {
      // Kept for the next flush: a stream that reconnects may then see a few events again.
      if (entry.offset === offset) entry.dirty = true;
      this.schedule();
      this.options.logger.warn({ app: entry.appId, handler: entry.id, err: String(err) }, "cannot save event handler position");
    });
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
    return write;
  }
}

const keyOf = (appId: string, id: string) => `${appId}\u0000${id}`;
