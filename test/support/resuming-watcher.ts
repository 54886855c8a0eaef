import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { Watch, type RawClient, type ReceivedEvent } from "./grpc-client.js";

/**
 * A watcher as a client would keep one: when its stream ends (UNAVAILABLE while Redis fails over),
 * it opens another that resumes after the last offset it received.
 */
export class ResumingWatcher {
  readonly events: ReceivedEvent[] = [];
  ends = 0;
  private stopped = false;
  private current: Watch | undefined;
  readonly done: Promise<void>;

  constructor(client: RawClient, appId: string) {
    this.done = (async () => {
      while (!this.stopped) {
        const last = this.events.at(-1)?.offset;
        const w = new Watch(client, { appId, ...(last ? { resumeAfter: last } : {}) });
        this.current = w;
        w.call.on("data", (m: { event: ReceivedEvent }) => this.events.push(m.event));
        const status = await w.status;
        if (this.stopped) break;
        assert.equal(status.code, grpc.status.UNAVAILABLE, `stream ended with ${status.code} ${status.details}`);
        this.ends++;
        // Reopened after a pause: Redis is switching over (a retry's back-off, not a synchronisation).
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.cancel();
    await this.done;
  }
}
