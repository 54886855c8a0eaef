import type { HandlerContext } from "@connectrpc/connect";
import { getEncoded } from "./pre-encoded.js";
import { streamFlowKey } from "./stream-flow.js";

/**
 * Push-style server streams. An idle stream written as a chain of async generators (the handler,
 * each layer around it, the transport's loop) holds a suspended generator, a pending promise and
 * their closures per layer; that was most of what an idle WatchEvents stream cost. A push stream
 * instead hands its responses to a sink the transport gives it and ends that sink when it is over;
 * each layer is a sink wrapping the next: an idle stream holds a few small objects. The handler is still written once:
 * `pushStream` makes it a connect-es streaming handler too (an AsyncIterable over the same push),
 * which Connect, gRPC-Web and the in-process client serve; the grpc-js bridge and the layers take
 * the push form (`pushStreamOf`).
 */

/** What the producer of a push stream hears from its transport. */
export interface SinkListener {
  /** The transport has room again, after `send` returned false. */
  drain(): void;
  /** The call is over for the transport (the client went, or the call was cancelled): stop sending. */
  cancel(): void;
}

/**
 * Where a push stream's responses go, and how it ends: exactly one `end` or `fail`, after which
 * nothing more is sent. Completion is a call, not a promise, so that a layer around the stream is
 * one small object (a sink wrapping the next) and nothing is pending per idle stream.
 */
export interface StreamSink<T> {
  /** Hands one response to the transport; false: it holds enough, send no more until `drain`. */
  send(response: T): boolean;
  /** Bytes of responses the transport has taken and not yet written to its socket. */
  pendingBytes(): number;
  /** Who hears `drain` and `cancel` (the last one given); a call already cancelled cancels it at once. */
  listen(listener: SinkListener): void;
  /** The stream ended normally. */
  end(): void;
  /** The stream ended with `error` (its status). */
  fail(error: unknown): void;
}

/**
 * A server-streaming handler in push form: it sends through `sink` and ends it (`end` or `fail`)
 * once. A synchronous throw fails it (startPush).
 */
// biome-ignore lint/suspicious/noExplicitAny: the request and response types of any method
export type PushStream<I = any, O = any> = (req: I, ctx: HandlerContext, sink: StreamSink<O>) => void;

/** A connect-es streaming handler that carries its push form. */
export type DualStream<I, O> = ((req: I, ctx: HandlerContext) => AsyncIterable<O>) & { readonly [pushKey]: PushStream<I, O> };

const pushKey = Symbol("herald push stream");

/** The push form of a handler, if it has one. */
export function pushStreamOf(fn: unknown): PushStream | undefined {
  return typeof fn === "function" ? (fn as Partial<DualStream<unknown, unknown>>)[pushKey] : undefined;
}

/** A connect-es streaming handler over `push`, carrying it for the transports and layers that push. */
export function pushStream<I, O>(push: PushStream<I, O>): DualStream<I, O> {
  const handler = (req: I, ctx: HandlerContext): AsyncIterable<O> => ({
    [Symbol.asyncIterator]: () => new PullSink<O>(push as PushStream<unknown, O>, req, ctx),
  });
  return Object.assign(handler, { [pushKey]: push }) as DualStream<I, O>;
}

/**
 * A push handler written as an async function that starts the stream (checks, lookups, handing
 * the sink to whatever will end it): its failure before that fails the stream.
 */
export function startedBy<I, O>(start: (req: I, ctx: HandlerContext, sink: StreamSink<O>) => Promise<void>): PushStream<I, O> {
  return (req, ctx, sink) => {
    start(req, ctx, sink).catch((err: unknown) => sink.fail(err));
  };
}

/** Runs a push stream; a synchronous throw fails it. */
export function startPush<I, O>(push: PushStream<I, O>, req: I, ctx: HandlerContext, sink: StreamSink<O>): void {
  try {
    push(req, ctx, sink);
  } catch (err) {
    sink.fail(err);
  }
}

/** A sink that hands everything to `inner`; a layer overrides what it adds to. */
export class ForwardingSink<T> implements StreamSink<T> {
  constructor(protected readonly inner: StreamSink<T>) {}
  send(response: T): boolean {
    return this.inner.send(response);
  }
  pendingBytes(): number {
    return this.inner.pendingBytes();
  }
  listen(listener: SinkListener): void {
    this.inner.listen(listener);
  }
  end(): void {
    this.inner.end();
  }
  fail(error: unknown): void {
    this.inner.fail(error);
  }
}

const sizeOf = (response: unknown) => (typeof response === "object" && response !== null ? (getEncoded(response)?.byteLength ?? 0) : 0);

/**
 * A push stream read as an async iterator (the pull transports). It takes one response at a time:
 * `send` answers false, so the producer holds the next ones (in its own bounded queue) until the
 * reader pulls again, as a pull handler waited for the next pull. Pending bytes: the response held
 * here, and either what the transport's StreamFlow has not yet sent (`streamFlowKey`) or else the
 * response handed out last, until the reader pulls again.
 */
class PullSink<T> implements StreamSink<T>, AsyncIterator<T> {
  /** Responses taken and not yet pulled: one, or a producer's backlog sent at its end. */
  private held: T[] = [];
  private handedBytes = 0;
  private listener: SinkListener | undefined;
  private cancelled = false;
  private outcome: { error: unknown } | null | undefined; // undefined: running; null: ended normally
  private wake: (() => void) | undefined;
  private settled: (() => void) | undefined;
  private readonly onAbort = () => this.cancel();

  constructor(
    push: PushStream<unknown, T>,
    req: unknown,
    private readonly ctx: HandlerContext,
  ) {
    // The caller's abort (client gone, deadline, shutdown) ends the stream, as it ended a generator.
    ctx.signal.addEventListener("abort", this.onAbort);
    startPush(push, req, ctx, this);
  }

  send(response: T): boolean {
    if (this.cancelled || this.outcome !== undefined) return false;
    this.held.push(response);
    this.signal();
    return false;
  }

  pendingBytes(): number {
    const flow = this.ctx.values.get(streamFlowKey);
    let held = 0;
    for (const r of this.held) held += sizeOf(r);
    return held + (flow ? flow.pendingBytes() : this.handedBytes);
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
    if (this.cancelled) listener.cancel();
  }

  end(): void {
    this.finish(null);
  }

  fail(error: unknown): void {
    this.finish({ error });
  }

  async next(): Promise<IteratorResult<T>> {
    // Pulling again means the transport has room: what it was handed last is on its way.
    this.handedBytes = 0;
    if (this.held.length === 0 && this.outcome === undefined) this.listener?.drain();
    for (;;) {
      if (this.held.length > 0) {
        const value = this.held.shift() as T;
        this.handedBytes = sizeOf(value);
        return { value, done: false };
      }
      if (this.outcome === null) return { value: undefined, done: true };
      if (this.outcome) throw this.outcome.error;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The reader stops early: the producer is cancelled, and this resolves once it has ended. */
  async return(): Promise<IteratorResult<T>> {
    this.cancel();
    if (this.outcome === undefined) await new Promise<void>((resolve) => (this.settled = resolve));
    return { value: undefined, done: true };
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.held = [];
    this.listener?.cancel();
  }

  private finish(outcome: { error: unknown } | null): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.ctx.signal.removeEventListener("abort", this.onAbort);
    // A transport waiting for its socket to take more would not pull the end until the reader reads.
    if (outcome) this.ctx.values.get(streamFlowKey)?.interrupt();
    this.signal();
    this.settled?.();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * A client's server-streaming method that can also be called push-style: `call(input, sink)` sends
 * the responses into `sink` and ends or fails it; the caller cancels through the sink's listener. The in-process client's methods carry one, so that
 * a long-held facade stream holds no reader either.
 */
export type PushCall<I, O> = (input: I, sink: StreamSink<O>) => void;

const callKey = Symbol("herald push call");

/** A client method that can also be called push-style. */
export function withPushCall<F extends object, I, O>(method: F, call: PushCall<I, O>): F {
  return Object.assign(method, { [callKey]: call });
}

/** The push form of a client method, if it has one (else: call it and read its AsyncIterable). */
export function pushCallOf<I, O>(method: (input: I, ...rest: never[]) => AsyncIterable<O>): PushCall<I, O> | undefined {
  return (method as unknown as { [callKey]?: PushCall<I, O> })[callKey];
}
