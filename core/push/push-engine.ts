import { setMaxListeners } from "node:events";
import { DeliveryState } from "../gen/herald/v1/hub_pb.js";
import { PushChannel, type PushProvider } from "../gen/herald/v1/push_pb.js";
import type { Subscriber } from "../gen/herald/v1/registry_pb.js";
import type { Logger } from "../logger.js";
import type { Job, WorkQueue } from "../queue/work-queue.js";
import type { PushProviderStore } from "../store/push-provider-store.js";
import type { RegistryStore } from "../store/registry-store.js";
import type { PushState, StatusStore } from "../store/status-store.js";
import { pushChannelOf } from "../store/push-channel-of.js";
import { backoffMs, wait } from "../eventhos/backoff.js";
import type { PushConfig } from "./push-config.js";
import { pushId, type PushJob } from "./push-job.js";
import type { PushNotification, PushOutcome, PushSender } from "./push-sender.js";

/** Which channel a subscriber's os type is pushed through. */
export function channelOfOsType(osType: string): PushChannel {
  switch (osType) {
    case "iphone":
    case "ipad":
      return PushChannel.APNS;
    case "androidgcm":
    case "webfcm":
      return PushChannel.FCM;
    case "web":
      return PushChannel.WEB_PUSH;
    default:
      return PushChannel.UNSPECIFIED;
  }
}

/** What `herald_push_sends_total` counts: the outcome of each call to a push service. */
export type SendOutcome = "delivered" | "failed" | "unregistered" | "retried" | "expired";

const CHANNEL_NAMES: Record<PushChannel, string> = {
  [PushChannel.UNSPECIFIED]: "none",
  [PushChannel.APNS]: "apns",
  [PushChannel.FCM]: "fcm",
  [PushChannel.WEB_PUSH]: "webpush",
};
export const channelName = (c: PushChannel) => CHANNEL_NAMES[c];

const final = (s: PushState | undefined) => s !== undefined && s.state !== DeliveryState.QUEUED;
const UNREADABLE_WAIT_MS = 500;

/** At most `limit` holders at once; the others wait in order (a queue with a head index: tens of thousands may wait). */
class Semaphore {
  private held = 0;
  private waiting: Array<() => void> = [];
  private head = 0;
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as never;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next(); // the slot passes to it
    } else this.held--;
  }
}

interface Target {
  sub: Subscriber;
  channel: PushChannel;
  provider: PushProvider;
}

/**
 * Delivers pushes to devices. A message whose app has push providers is queued as one job (the
 * durable work queue eventhos contracts use: Redis Stream + consumer group, or memory), taken by
 * one instance, its targets resolved then, and each target's push sent through the provider of its
 * os type's channel, at most `concurrency` calls per channel at once. 429 / 5xx / lost connections
 * are retried with backoff, after Retry-After when the service gives one; permanent refusals are
 * not; a token the service calls unregistered deactivates its subscriber. Every step is recorded in
 * the status store (QUEUED → DELIVERED / FAILED / EXPIRED), and a job is acknowledged only when
 * every push is final: a job left by a dead instance is taken over, skipping final pushes and
 * repeating the others with the same push id (the service's idempotency id where it has one).
 */
export class PushEngine {
  /** Calls made by this instance, by channel and outcome (the metrics read them). */
  readonly sends = new Map<string, number>();
  /** Told of every accepted push: enqueue → provider acceptance (ms). The bench reads it. */
  onDelivered: ((latencyMs: number) => void) | undefined;
  private readonly stop = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly runningIds = new Set<string>();
  private readonly gates = new Map<PushChannel, Semaphore>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      queue: WorkQueue;
      registry: RegistryStore;
      providers: PushProviderStore;
      status: StatusStore;
      senders: ReadonlyArray<PushSender<never>>;
      logger: Logger;
    },
    private readonly options: Pick<PushConfig, "concurrency" | "retryLimit" | "backoffBaseMs" | "backoffMaxMs" | "claimIdleMs">,
  ) {
    setMaxListeners(0, this.stop.signal);
    for (const s of deps.senders) this.gates.set(s.channel, new Semaphore(Math.max(1, options.concurrency)));
  }

  /** Queues a message's pushes. */
  enqueue(job: PushJob): Promise<void> {
    return this.deps.queue.add(JSON.stringify(job));
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops taking jobs, interrupts calls and waits; unfinished jobs stay queued for others. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.deps.queue.close();
    await this.loop;
    await Promise.allSettled([...this.running]);
    await Promise.allSettled(this.deps.senders.map((s) => s.close()));
  }

  private count(channel: PushChannel, outcome: SendOutcome): void {
    const key = `${channelName(channel)}\0${outcome}`;
    this.sends.set(key, (this.sends.get(key) ?? 0) + 1);
  }

  private async run(): Promise<void> {
    const { queue, logger } = this.deps;
    let failing = false;
    // Jobs at once: each holds its pushes, which the channel gates bound.
    const maxJobs = Math.max(1, this.options.concurrency);
    while (!this.stop.signal.aborted) {
      if (this.running.size >= maxJobs) {
        await Promise.race(this.running);
        continue;
      }
      let jobs: Job[];
      try {
        jobs = await queue.take(maxJobs - this.running.size);
        if (failing) logger.info("push queue readable again");
        failing = false;
      } catch (err) {
        if (!failing) logger.warn({ err: String(err) }, "push queue unreadable, retrying");
        failing = true;
        await wait(UNREADABLE_WAIT_MS, this.stop.signal);
        continue;
      }
      for (const job of jobs) {
        if (this.runningIds.has(job.id)) continue;
        this.runningIds.add(job.id);
        const p: Promise<void> = this.runJob(job)
          .catch((err: unknown) => logger.warn({ job: job.id, err: String(err) }, "push job failed; it will be taken up again"))
          .finally(() => {
            this.running.delete(p);
            this.runningIds.delete(job.id);
          });
        this.running.add(p);
      }
    }
  }

  private async targets(j: PushJob): Promise<Target[]> {
    const { registry, providers } = this.deps;
    const byChannel = new Map((await providers.list(j.a)).map((p) => [pushChannelOf(p), p]));
    if (byChannel.size === 0) return [];
    const subs = j.b
      ? (await registry.listSubscribers(j.a)).filter((s) => s.active && (j.o === "" || s.osType === j.o))
      : (await Promise.all(j.k.map((k) => registry.getSubscriber(k)))).filter(
          (s): s is Subscriber => s !== undefined && s.appId === j.a && s.active,
        );
    return subs.flatMap((sub) => {
      const channel = channelOfOsType(sub.osType);
      const provider = byChannel.get(channel);
      return provider && sub.sid !== "" && this.gates.has(channel) ? [{ sub, channel, provider }] : [];
    });
  }

  private async runJob(job: Job): Promise<void> {
    const { queue, status } = this.deps;
    const lost = new AbortController();
    const signal = AbortSignal.any([this.stop.signal, lost.signal]);
    setMaxListeners(0, signal);
    const heartbeat = setInterval(
      () => {
        queue.heartbeat(job).then(
          (owned) => owned || lost.abort(),
          () => undefined,
        );
      },
      Math.max(10, Math.floor(this.options.claimIdleMs / 3)),
    );
    try {
      let j: PushJob;
      try {
        j = JSON.parse(job.value) as PushJob;
      } catch {
        this.deps.logger.warn({ job: job.id }, "unreadable push job dropped");
        await queue.ack(job);
        return;
      }
      const [targets, states] = await Promise.all([this.targets(j), status.pushStates(j.r, j.m)]);
      const todo = targets.filter((t) => !final(states.get(t.sub.ksid)));
      const now = Date.now();
      await Promise.all(
        todo
          .filter((t) => !states.has(t.sub.ksid))
          .map((t) =>
            status.markPush(j.r, j.m, t.sub.ksid, {
              channel: t.channel,
              state: DeliveryState.QUEUED,
              reason: "",
              timeMs: now,
              attempts: 0,
              providerId: "",
            }),
          ),
      );
      const done = await Promise.all(todo.map((t) => this.deliver(j, t, states.get(t.sub.ksid)?.attempts ?? 0, signal)));
      if (signal.aborted || done.includes(false)) return; // the next owner continues
      await queue.ack(job);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Sends one push until it is final; false when stopped first. */
  private async deliver(j: PushJob, t: Target, prior: number, signal: AbortSignal): Promise<boolean> {
    const { status, registry, logger } = this.deps;
    const { ksid } = t.sub;
    const sender = this.deps.senders.find((s) => s.channel === t.channel)!;
    const gate = this.gates.get(t.channel)!;
    const notification: PushNotification = {
      id: pushId(j.r, j.m, ksid),
      token: t.sub.sid,
      title: j.t,
      body: j.c,
      data: { msg_id: j.m, ...(j.v === "" ? {} : { event_id: j.v }) },
      priority: j.p,
      expiresAtMs: j.e,
      collapseId: j.x,
    };
    const mark = (state: DeliveryState, attempts: number, reason = "", providerId = "") =>
      status.markPush(j.r, j.m, ksid, { channel: t.channel, state, reason, timeMs: Date.now(), attempts, providerId });
    let attempts = prior;
    for (;;) {
      if (Date.now() >= j.e) {
        this.count(t.channel, "expired");
        await mark(DeliveryState.EXPIRED, attempts, "the push expired before the push service accepted it");
        return true;
      }
      await gate.acquire();
      let outcome: PushOutcome;
      try {
        if (signal.aborted) return false;
        attempts++;
        outcome = await sender.send(t.provider.config.value as never, notification, signal);
      } finally {
        gate.release();
      }
      if (signal.aborted) return false;
      if (outcome.kind === "delivered") {
        this.count(t.channel, "delivered");
        this.onDelivered?.(Date.now() - j.q);
        await mark(DeliveryState.DELIVERED, attempts, "", outcome.providerId);
        return true;
      }
      if (outcome.kind === "failed") {
        this.count(t.channel, outcome.unregistered ? "unregistered" : "failed");
        await mark(DeliveryState.FAILED, attempts, outcome.reason);
        if (outcome.unregistered) {
          await registry
            .deactivate(ksid)
            .catch((err: unknown) => logger.warn({ ksid, err: String(err) }, "could not deactivate an unregistered subscriber"));
        }
        return true;
      }
      this.count(t.channel, "retried");
      if (attempts > this.options.retryLimit) {
        await mark(DeliveryState.FAILED, attempts, `${outcome.reason} (gave up after ${attempts} attempts)`);
        return true;
      }
      await mark(DeliveryState.QUEUED, attempts, outcome.reason);
      const delay = Math.min(
        this.options.backoffMaxMs,
        outcome.retryAfterMs ?? backoffMs(attempts, this.options.backoffBaseMs, this.options.backoffMaxMs),
      );
      if (!(await wait(delay, signal))) return false;
    }
  }
}
