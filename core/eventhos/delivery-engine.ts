import { create, toJson } from "@bufbuild/protobuf";
import { timestampNow, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  AttemptOutcome,
  AttemptSchema,
  ExecutionState,
  HttpExchangeSchema,
  ReceivedState,
  type Action,
  type Execution,
  type ReceivedEvent,
} from "../gen/herald/v1/eventhos_pb.js";
import type { DeliveryStore } from "./delivery-store.js";
import type { Logger } from "../logger.js";
import type { Job, WorkQueue } from "../queue/work-queue.js";
import { ActionCaller, type CallRequest, type CallResult } from "./call-action.js";
import { renderJson, renderText, type TemplateSource } from "./body-template.js";
import { backoffMs, wait } from "./backoff.js";
import { redactHeaders } from "./secret-headers.js";
import { JobStop, type StopSignal } from "./job-stop.js";

export interface DeliveryEngineOptions {
  /** Jobs (received events) run at once by this instance. */
  concurrency: number;
  /** Automatic retries after a failed attempt. */
  retryLimit: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The queue's takeover time; heartbeats go out three times per period. */
  claimIdleMs: number;
  callTimeoutMs: number;
  logBodyBytes: number;
  /** Non-public hosts and addresses contracts may call (comma-separated). */
  allowHosts: string;
}

/** How the run of one execution ended. */
type Outcome = "done" | "stopped" | "lost";

const UNREADABLE_WAIT_MS = 500;

/**
 * Runs the active contracts of received events, taken from the work queue: orders one after
 * another, the contracts of one order in parallel, each attempt fenced in the store, retries with
 * exponential backoff. A job is acknowledged only when every execution is final, so a job left by a
 * dead or stopping instance is finished by whoever takes it over, skipping completed executions.
 */
export class DeliveryEngine {
  /** What this instance ran, by end: the metrics read it. */
  readonly stats = {
    /** Jobs (received events) taken from the queue. */
    jobs: 0,
    /** Executions that ended here, by final state. */
    executions: { processed: 0, error: 0 },
    /** Attempts made here, by outcome. */
    attempts: { success: 0, failure: 0, interrupted: 0 },
  };
  private readonly stop = new AbortController();
  private readonly running = new Set<Promise<void>>();
  /**
   * The jobs running here by queue id (a job reclaimed by this same instance is not run twice), each
   * with what stops it: its ownership lost, or the engine closing (one JobStop per job: cheaper than
   * an AbortController, or combining two signals with AbortSignal.any, for every job).
   */
  private readonly runningIds = new Map<string, JobStop>();
  private readonly caller: ActionCaller;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly deps: { store: DeliveryStore; queue: WorkQueue; logger: Logger },
    private readonly options: DeliveryEngineOptions,
  ) {
    this.caller = new ActionCaller({
      timeoutMs: options.callTimeoutMs,
      logBodyBytes: options.logBodyBytes,
      allowHosts: options.allowHosts,
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops taking work, interrupts calls and backoff waits, and leaves unfinished jobs to others. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const job of this.runningIds.values()) job.abort();
    await this.deps.queue.close();
    await this.loop;
    await Promise.allSettled([...this.running]);
    await this.caller.close();
  }

  private async run(): Promise<void> {
    const { queue, logger } = this.deps;
    let failing = false;
    while (!this.stop.signal.aborted) {
      if (this.running.size >= this.options.concurrency) {
        await Promise.race(this.running);
        continue;
      }
      let jobs: Job[];
      try {
        jobs = await queue.take(this.options.concurrency - this.running.size);
        if (failing) logger.info("delivery queue readable again");
        failing = false;
      } catch (err) {
        // Once per outage: the Redis connection logs its own state.
        if (!failing) logger.warn({ err: String(err) }, "delivery queue unreadable, retrying");
        failing = true;
        await wait(UNREADABLE_WAIT_MS, this.stop.signal);
        continue;
      }
      if (this.stop.signal.aborted) break;
      for (const job of jobs) {
        if (this.runningIds.has(job.id)) continue;
        const stop = new JobStop();
        this.runningIds.set(job.id, stop);
        this.stats.jobs++;
        const p: Promise<void> = this.runJob(job, stop)
          .catch((err: unknown) => logger.warn({ received: job.value, err: String(err) }, "delivery job failed; it will be taken up again"))
          .finally(() => {
            this.running.delete(p);
            this.runningIds.delete(job.id);
          });
        this.running.add(p);
      }
    }
  }

  private async runJob(job: Job, stop: JobStop): Promise<void> {
    const { store, queue } = this.deps;
    const signal: StopSignal = stop;
    const heartbeat = setInterval(
      () => {
        queue.heartbeat(job).then(
          (owned) => owned || stop.abort(),
          () => undefined, // Redis away: the next beat tries again
        );
      },
      Math.max(10, Math.floor(this.options.claimIdleMs / 3)),
    );
    try {
      const received = await store.getReceived(job.value);
      if (!received) {
        await queue.ack(job); // expired, or never recorded: nothing to run
        return;
      }
      const executions = await this.executions(received);
      const orders = [...new Set(executions.map((e) => e.order))].sort((a, b) => a - b);
      for (const order of orders) {
        const group = executions.filter((e) => e.order === order && e.state === ExecutionState.PENDING);
        const outcomes = await Promise.all(group.map((e) => this.runExecution(received, e, signal)));
        if (outcomes.some((o) => o !== "done") || signal.aborted) return; // the next owner continues
      }
      // Every execution is final now, each run here or before: their states are known without a read.
      const state = executions.every((e) => e.state === ExecutionState.PROCESSED) ? ReceivedState.PROCESSED : ReceivedState.ERROR;
      await store.setReceivedState(received.id, state);
      await queue.ack(job);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async executions(received: ReceivedEvent): Promise<Execution[]> {
    const all = await Promise.all(received.executionIds.map((id) => this.deps.store.getExecution(id)));
    return all.filter((e): e is Execution => e !== undefined);
  }

  private async runExecution(received: ReceivedEvent, execution: Execution, signal: StopSignal): Promise<Outcome> {
    const { store } = this.deps;
    const action = await store.getAction(execution.actionId);
    // Attempts left started by an instance that died: interrupted, and counted.
    for (const a of execution.attempts) {
      if (a.outcome !== AttemptOutcome.STARTED) continue;
      a.outcome = AttemptOutcome.INTERRUPTED;
      a.error = "interrupted: the instance running it stopped during the call";
      await store.finishAttempt(execution.id, a);
    }
    const run = execution.attempts.filter((a) => a.number >= execution.runStart);
    if (run.some((a) => a.outcome === AttemptOutcome.SUCCESS)) return this.final(execution, ExecutionState.PROCESSED);
    let number = execution.attempts.reduce((n, a) => Math.max(n, a.number), 0);
    let used = run.length;
    while (used <= this.options.retryLimit) {
      if (used > 0 && !(await wait(backoffMs(used, this.options.backoffBaseMs, this.options.backoffMaxMs), signal))) return "stopped";
      if (signal.aborted) return "stopped";
      number++;
      let request: CallRequest | undefined;
      let problem: string | undefined;
      try {
        request = action ? buildRequest(action, received) : undefined;
        if (!action) problem = `action "${execution.actionId}" no longer exists`;
        if (request) {
          // The same key on every attempt of one execution: a call repeated because its instance
          // died mid-call (or its answer was lost) can be recognised by the target.
          request.headers["idempotency-key"] ??= execution.id;
          request.headers["x-herald-attempt"] = String(number);
        }
      } catch (err) {
        problem = `cannot fill the action's templates: ${err instanceof Error ? err.message : String(err)}`;
      }
      const attempt = create(AttemptSchema, {
        number,
        started: timestampNow(),
        outcome: AttemptOutcome.STARTED,
        // The log never holds a secret header's value; the call itself sends it.
        ...(request && action
          ? {
              request: create(HttpExchangeSchema, {
                ...request,
                headers: redactHeaders(request.headers, action.secretHeaders),
                body: this.clip(request.body ?? ""),
              }),
            }
          : {}),
      });
      if (!(await store.startAttempt(execution.id, attempt))) return "lost";
      const result: CallResult = request
        ? await this.caller.call(request, signal)
        : { ok: false, interrupted: false, durationMs: 0, error: problem ?? "no request could be built" };
      attempt.outcome = result.ok ? AttemptOutcome.SUCCESS : result.interrupted ? AttemptOutcome.INTERRUPTED : AttemptOutcome.FAILURE;
      attempt.durationMs = result.durationMs;
      if (result.error !== undefined) attempt.error = result.error;
      if ("status" in result && result.status !== undefined) {
        attempt.response = create(HttpExchangeSchema, { status: result.status, headers: result.headers ?? {}, body: result.body ?? "" });
      }
      await store.finishAttempt(execution.id, attempt);
      this.stats.attempts[result.ok ? "success" : result.interrupted ? "interrupted" : "failure"]++;
      used++;
      if (result.ok) {
        this.stats.executions.processed++;
        return this.final(execution, ExecutionState.PROCESSED);
      }
      if (result.interrupted) return "stopped";
      // A missing action, a broken template or a refused address will not get better by retrying.
      if (!request || result.refused) break;
    }
    this.stats.executions.error++;
    return this.final(execution, ExecutionState.ERROR);
  }

  /** Records an execution's final state, in the store and in the job's copy (which decides the received event's state). */
  private async final(execution: Execution, state: ExecutionState.PROCESSED | ExecutionState.ERROR): Promise<Outcome> {
    await this.deps.store.updateExecution(execution.id, { state });
    execution.state = state;
    return "done";
  }

  private clip(text: string): string {
    const b = Buffer.from(text);
    return b.length <= this.options.logBodyBytes ? text : b.subarray(0, this.options.logBodyBytes).toString("utf8");
  }
}

/** The HTTP call an action makes for a received event, templates filled. */
export function buildRequest(action: Action, received: ReceivedEvent): CallRequest {
  const source: TemplateSource = {
    body: received.body ? toJson(ValueSchema, received.body) : null,
    headers: received.headers,
    query: received.query,
  };
  const method = action.method.toUpperCase();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(action.headers)) headers[k.toLowerCase()] = renderText(v, source);
  let body: string | undefined;
  if (action.bodyTemplate !== "") body = JSON.stringify(renderJson(action.bodyTemplate, source));
  else if (method !== "GET" && method !== "HEAD" && method !== "DELETE") body = JSON.stringify(source.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  return { method, url: renderText(action.url, source, encodeURIComponent), headers, body };
}
