import { Code, type HandlerContext } from "@connectrpc/connect";
import { UnavailableError } from "../unavailable-error.js";
import { heraldError } from "./errors.js";

/** Infrastructure failures become UNAVAILABLE (retryable); everything else passes through. */
export function mapError(err: unknown): unknown {
  if (err instanceof UnavailableError) {
    return heraldError(Code.Unavailable, "UNAVAILABLE", "storage is unavailable, try again");
  }
  return err;
}

type AnyImpl = Record<string, (req: never, ctx: HandlerContext) => unknown>;

/** Wraps every method of a service implementation with mapError, unary and streaming alike. */
export function withErrorMapping<T extends object>(impl: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl as AnyImpl)) {
    const isStream = Object.prototype.toString.call(fn) === "[object AsyncGeneratorFunction]";
    out[name] = isStream
      ? async function* (req: never, ctx: HandlerContext) {
          try {
            yield* fn(req, ctx) as AsyncIterable<unknown>;
          } catch (err) {
            throw mapError(err);
          }
        }
      : async (req: never, ctx: HandlerContext) => {
          try {
            return await fn(req, ctx);
          } catch (err) {
            throw mapError(err);
          }
        };
  }
  return out as T;
}
