import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { UnavailableError } from "../unavailable-error.js";
import type { Logger } from "../logger.js";
import { heraldError } from "./errors.js";
import { ForwardingSink, pushStream, pushStreamOf, startPush, type StreamSink } from "../wire/push-stream.js";

/**
 * What a handler's failure becomes for the caller. A ConnectError is the handler's answer and passes
 * through. UnavailableError (a backing service cannot answer now) is UNAVAILABLE: retry. Anything
 * else is a bug: INTERNAL with nothing of it sent, and logged here once with its stack, so that no
 * transport has to (and none logs it twice). A failure after the caller went away is its echo
 * (aborted reads, closed streams): one debug line, no stack.
 */
export function mapError(err: unknown, method: string, ctx: HandlerContext | undefined, logger: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof UnavailableError) {
    logger.debug({ method, err: err.message }, "storage unavailable");
    return heraldError(Code.Unavailable, "UNAVAILABLE", "storage is unavailable, try again");
  }
  if (ctx?.signal.aborted) {
    logger.debug({ method, err: err instanceof Error ? err.message : String(err) }, "handler failed after its call ended");
  } else {
    logger.error({ method, err }, "handler failed");
  }
  return heraldError(Code.Internal, "INTERNAL", "internal error");
}

type AnyImpl = Record<string, (req: never, ctx: HandlerContext) => unknown>;

/** Wraps every method of a service implementation with mapError, unary and streaming (pull or push) alike. */
export function withErrorMapping<T extends object>(impl: T, logger: Logger, serviceName = ""): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl as AnyImpl)) {
    const method = serviceName === "" ? name : `${serviceName}/${name}`;
    const push = pushStreamOf(fn);
    if (push) {
      out[name] = pushStream((req: never, ctx: HandlerContext, sink) =>
        startPush(push, req, ctx, new MappedSink(sink, method, ctx, logger)),
      );
      continue;
    }
    const isStream = Object.prototype.toString.call(fn) === "[object AsyncGeneratorFunction]";
    out[name] = isStream
      ? async function* (req: never, ctx: HandlerContext) {
          try {
            yield* fn(req, ctx) as AsyncIterable<unknown>;
          } catch (err) {
            throw mapError(err, method, ctx, logger);
          }
        }
      : async (req: never, ctx: HandlerContext) => {
          try {
            return await fn(req, ctx);
          } catch (err) {
            throw mapError(err, method, ctx, logger);
          }
        };
  }
  return out as T;
}

/** A push stream's sink whose failure is mapped as a pull stream's error is. */
class MappedSink<T> extends ForwardingSink<T> {
  constructor(
    inner: StreamSink<T>,
    private readonly method: string,
    private readonly ctx: HandlerContext,
    private readonly logger: Logger,
  ) {
    super(inner);
  }

  override fail(error: unknown): void {
    this.inner.fail(mapError(error, this.method, this.ctx, this.logger));
  }
}
