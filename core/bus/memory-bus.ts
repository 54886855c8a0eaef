import type { Bus, BusListener, History, Published } from "./bus.js";
import { appendIds } from "./envelope.js";

export interface MemoryBusOptions {
  /** Messages kept per app. */
  historySize: number;
}

interface AppLog {
  offset: bigint;
  /** The newest messages, oldest first; `first` is the offset of messages[0]. */
  messages: Uint8Array[];
  first: bigint;
  listeners: Set<BusListener>;
}

/**
 * The embedded bus: one process, nothing shared. Delivery is synchronous, inside `publish`, so
 * delivery order is publish order; a throwing listener is isolated from the publisher and from the
 * other listeners.
 */
export class MemoryBus implements Bus {
  private msgId = 0n;
  private readonly apps = new Map<string, AppLog>();

  constructor(private readonly options: MemoryBusOptions) {}

  private app(appId: string): AppLog {
    let log = this.apps.get(appId);
    if (!log) {
      log = { offset: 0n, messages: [], first: 1n, listeners: new Set() };
      this.apps.set(appId, log);
    }
    return log;
  }

  async publish(appId: string, envelope: Uint8Array): Promise<Published> {
    const log = this.app(appId);
    const msgId = String(++this.msgId);
    const offset = ++log.offset;
    const message = appendIds(envelope, msgId, offset);
    log.messages.push(message);
    // Like MAXLEN ~: keep at least the newest historySize, trimming in batches (amortised O(1)).
    const size = this.options.historySize;
    if (log.messages.length > size + Math.ceil(size / 8)) {
      log.messages.splice(0, log.messages.length - size);
      log.first = offset - BigInt(log.messages.length) + 1n;
    }
    for (const listener of log.listeners) {
      try {
        listener(message);
      } catch {
        // A listener's failure is its own; delivery to the others goes on.
      }
    }
    return { msgId, offset, message };
  }

  async subscribe(appId: string, listener: BusListener): Promise<() => Promise<void>> {
    const log = this.app(appId);
    // Wrap so the same function can be subscribed twice and removed once each.
    const entry: BusListener = (m) => listener(m);
    log.listeners.add(entry);
    return async () => {
      log.listeners.delete(entry);
    };
  }

  async history(appId: string, after: bigint, limit: number): Promise<History> {
    const log = this.apps.get(appId);
    if (!log || log.messages.length === 0) return { messages: [], earliest: 0n, latest: log?.offset ?? 0n };
    const start = after < log.first ? 0 : Number(after - log.first + 1n);
    return {
      messages: log.messages.slice(start, start + limit),
      earliest: log.first,
      latest: log.offset,
    };
  }

  onResync(): void {
    // Never disconnected.
  }

  async close(): Promise<void> {
    for (const log of this.apps.values()) log.listeners.clear();
  }
}
