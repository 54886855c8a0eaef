import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { HeraldMetrics, StreamKind } from "./herald-metrics.js";
import { ForwardingSink, pushStream, pushStreamOf, startPush, type StreamSink } from "../wire/push-stream.js";

type AnyImpl = Record<string, (req: never, ctx: HandlerContext) => unknown>;

/** gRPC code names as Prometheus label values: `ok`, `invalid_argument`, … (connect's own spelling). */
const codeNames = new Map<Code | 0, string>([[0, "ok"]]);
for (const [name, value] of Object.entries(Code)) {
  if (typeof value === "number") codeNames.set(value, name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase());
}

/** The label of how a call failed: its code; anything not a ConnectError counts as internal. */
const codeOf = (err: unknown) => codeNames.get(err instanceof ConnectError ? err.code : Code.Internal) ?? "unknown";

/** Why a stream ended, as a label: its reason (SLOW_CONSUMER, …), else its code, `cancel` or `end`. */
function endReason(err: unknown, ctx: HandlerContext): string {
  if (err === undefined) return ctx.signal.aborted ? "cancel" : "end";
  if (err instanceof ConnectError) {
    const reason = err.metadata.get("herald-reason");
    if (reason) return reason;
    if (err.code === Code.Canceled) return "cancel";
  }
  return ctx.signal.aborted ? "cancel" : codeOf(err);
}

/** An in-process WatchEvents with a handler id is an XMS event handler stream of the facade. */
function kindOf(ctx: HandlerContext, req: unknown): StreamKind {
  if (ctx.protocolName === "in-process") return (req as { handlerId?: string }).handlerId ? "xms" : "in-process";
  return ctx.protocolName === "grpc" || ctx.protocolName === "connect" || ctx.protocolName === "grpc-web" ? ctx.protocolName : "in-process";
}

/**
 * Counts every call of a service: unary calls by code with their latency and how many are in
 * flight; streams by kind while open, the events they write and why they end. Wraps the service
 * outermost, so that the code counted is the one the caller gets. The label children of each method
 * are bound once, here, so that a call costs a few increments and no allocation.
 */
export function withMetrics<T extends object>(service: DescService, impl: T, metrics: HeraldMetrics): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl as AnyImpl)) {
    const method = service.methods.find((m) => m.localName === name);
    if (!method) {
      out[name] = fn;
      continue;
    }
    const stats = metrics.callStats(service.typeName, method.name, method.methodKind === "unary");
    const counted = (code: string) => stats.ended(code);
    const push = pushStreamOf(fn);
    if (push) {
      out[name] = pushStream((req: never, ctx: HandlerContext, sink: StreamSink<unknown>) => {
        const kind = kindOf(ctx, req);
        const streams = metrics.streamStats(kind);
        streams.open++;
        startPush(push, req, ctx, new CountingSink(sink, metrics, streams, kind, ctx, stats));
      });
      continue;
    }
    if (method.methodKind === "server_streaming") {
      out[name] = async function* (req: never, ctx: HandlerContext) {
        const kind = kindOf(ctx, req);
        const streams = metrics.streamStats(kind);
        streams.open++;
        let failure: unknown;
        try {
          for await (const response of fn(req, ctx) as AsyncIterable<unknown>) {
            yield response;
            streams.delivered += eventsIn(response);
          }
        } catch (err) {
          failure = err;
          throw err;
        } finally {
          streams.open--;
          metrics.streamsEnded.inc({ kind, reason: endReason(failure, ctx) });
          const gone = ctx.signal.aborted && !(failure instanceof ConnectError);
          counted(gone ? "canceled" : failure === undefined ? "ok" : codeOf(failure));
        }
      };
      continue;
    }
    out[name] = async (req: never, ctx: HandlerContext) => {
      const start = performance.now();
      stats.inFlight++;
      try {
        const res = await fn(req, ctx);
        stats.ended("ok");
        return res;
      } catch (err) {
        stats.ended(codeOf(err));
        throw err;
      } finally {
        stats.inFlight--;
        stats.latency.took((performance.now() - start) / 1000);
      }
    };
  }
  return out as T;
}

/** Events in a streamed response: a WatchEvents batch (`events`) counts each; anything else is one. */
function eventsIn(response: unknown): number {
  const events = (response as { events?: unknown } | null)?.events;
  return Array.isArray(events) && events.length > 0 ? events.length : 1;
}

/** A push stream's sink that counts the events its transport takes, and how the stream ends (as the pull wrapper does). */
class CountingSink<T> extends ForwardingSink<T> {
  constructor(
    inner: StreamSink<T>,
    private readonly metrics: HeraldMetrics,
    private readonly streams: { open: number; delivered: number },
    private readonly kind: StreamKind,
    private readonly ctx: HandlerContext,
    private readonly stats: { ended(code: string): void },
  ) {
    super(inner);
  }

  override send(response: T): boolean {
    const room = this.inner.send(response);
    this.streams.delivered += eventsIn(response);
    return room;
  }

  override end(): void {
    this.ended(undefined);
    this.inner.end();
  }

  override fail(error: unknown): void {
    this.ended(error);
    this.inner.fail(error);
  }

  private ended(failure: unknown): void {
    this.streams.open--;
    this.metrics.streamsEnded.inc({ kind: this.kind, reason: endReason(failure, this.ctx) });
    const gone = this.ctx.signal.aborted && !(failure instanceof ConnectError);
    this.stats.ended(gone ? "canceled" : failure === undefined ? "ok" : codeOf(failure));
  }
}
