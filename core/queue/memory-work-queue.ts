import { EventEmitter } from "node:events";
import type { Job, QueueDepth, WorkQueue, WorkQueueOptions } from "./work-queue.js";

interface Entry extends Job {
  owner: MemoryWorkQueue | undefined;
  seenMs: number;
  addedMs: number;
}

/** What consumers of one memory queue share (tests make several consumers of one backend). */
export class MemoryQueueBackend extends EventEmitter {
  readonly entries = new Map<string, Entry>();
  next = 0;
}

/** The work queue in process memory (embedded mode): the same hand-out rules, nothing kept. */
export class MemoryWorkQueue implements WorkQueue {
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly options: WorkQueueOptions,
    private readonly backend = new MemoryQueueBackend(),
  ) {
    backend.setMaxListeners(0);
  }

  /** Another consumer of the same queue. */
  consumer(): MemoryWorkQueue {
    return new MemoryWorkQueue(this.options, this.backend);
  }

  async add(value: string): Promise<void> {
    const id = String(++this.backend.next);
    this.backend.entries.set(id, { id, value, owner: undefined, seenMs: 0, addedMs: Date.now() });
    this.backend.emit("added");
  }

  async take(max: number): Promise<Job[]> {
    const jobs = this.claim(max);
    if (jobs.length > 0 || this.closed) return jobs;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.backend.off("added", done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.blockMs);
      this.backend.on("added", done);
      this.wake = done;
    });
    return this.closed ? [] : this.claim(max);
  }

  private claim(max: number): Job[] {
    const now = Date.now();
    const out: Job[] = [];
    for (const e of this.backend.entries.values()) {
      if (out.length >= max) break;
      if (e.owner && now - e.seenMs < this.options.claimIdleMs) continue;
      e.owner = this;
      e.seenMs = now;
      out.push({ id: e.id, value: e.value });
    }
    return out;
  }

  async heartbeat(job: Job): Promise<boolean> {
    const e = this.backend.entries.get(job.id);
    if (!e || e.owner !== this) return false;
    e.seenMs = Date.now();
    return true;
  }

  async ack(job: Job): Promise<void> {
    this.backend.entries.delete(job.id);
  }

  async depth(): Promise<QueueDepth> {
    // Entries keep their insertion order: the first is the oldest.
    const oldest = this.backend.entries.values().next().value;
    return { jobs: this.backend.entries.size, oldestAgeMs: oldest ? Date.now() - oldest.addedMs : 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }
}
