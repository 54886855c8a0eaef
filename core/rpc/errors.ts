import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** The domain of every ErrorInfo Herald sends. */
export const ERROR_DOMAIN = "herald";
/** Trailer that carries the machine-readable reason, for clients that do not decode details. */
export const REASON_TRAILER = "herald-reason";
/** Trailer that carries the offset a watcher should resume after. */
export const RESUME_TRAILER = "herald-resume-after";

export type Reason =
  | "APP_NOT_FOUND"
  | "APP_NOT_PUBLISHED"
  | "EVENT_NOT_FOUND"
  | "EVENT_NOT_PUBLISHED"
  | "SUBSCRIBER_NOT_FOUND"
  | "MESSAGE_NOT_FOUND"
  | "HANDLER_NOT_FOUND"
  | "HANDLER_LIMIT"
  | "CONFLICT"
  | "IDEMPOTENCY_KEY_REUSED"
  | "INVALID_ARGUMENT"
  /** The request bytes are not a valid message of the method's type (broken wire data, bad UTF-8). */
  | "MALFORMED_REQUEST"
  /** A bug: nothing of it is sent; the server logged it with its stack. */
  | "INTERNAL"
  | "UNAUTHENTICATED"
  // access control (core/auth)
  | "CREDENTIAL_REQUIRED"
  | "CREDENTIAL_INVALID"
  | "CREDENTIAL_EXPIRED"
  | "ROLE_REQUIRED"
  | "APP_NOT_ALLOWED"
  | "SUBSCRIBER_SCOPE"
  | "API_KEY_NOT_FOUND"
  | "UNAVAILABLE"
  | "SLOW_CONSUMER"
  | "HISTORY_EXPIRED"
  | "SHUTTING_DOWN"
  // eventhos: clients and contract delivery
  | "CLIENT_NOT_FOUND"
  | "KEY_NOT_FOUND"
  | "EVENT_NOT_ALLOWED"
  | "ACTION_NOT_FOUND"
  | "CONTRACT_NOT_FOUND"
  | "RECEIVED_NOT_FOUND"
  | "EXECUTION_NOT_FOUND"
  | "EXECUTION_RUNNING"
  | "TOO_MANY_ATTEMPTS"
  | "BUSY"
  // push providers (core/registry/push-providers.ts)
  | "PUSH_PROVIDER_NOT_FOUND";

/**
 * A ConnectError with a reason, carried both as a google.rpc.ErrorInfo detail and as a plain
 * `herald-reason` trailer. `metadata` goes into ErrorInfo and, prefixed `herald-`, into trailers.
 */
export function heraldError(code: Code, reason: Reason, message: string, metadata: Record<string, string> = {}): ConnectError {
  const trailers = new Headers({ [REASON_TRAILER]: reason });
  for (const [k, v] of Object.entries(metadata)) trailers.set(`herald-${k.replaceAll("_", "-")}`, v);
  return new ConnectError(message, code, trailers, [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) },
  ]);
}

export const invalidArgument = (message: string) => heraldError(Code.InvalidArgument, "INVALID_ARGUMENT", message);

/** NOT_FOUND with its reason: `<what> "<id>" not found`. */
export const notFound = (reason: Reason, what: string, id: string) => heraldError(Code.NotFound, reason, `${what} "${id}" not found`);
export const appNotFound = (id: string) => notFound("APP_NOT_FOUND", "app", id);
export const eventNotFound = (id: string) => notFound("EVENT_NOT_FOUND", "event", id);
export const handlerNotFound = (appId: string, id: string) =>
  heraldError(Code.NotFound, "HANDLER_NOT_FOUND", `event handler "${id}" not found for app "${appId}"`);

/** The value read, or NOT_FOUND (`<what> "<id>" not found`) when there is none. */
export function found<T>(value: T | undefined, reason: Reason, what: string, id: string): T {
  if (value === undefined) throw notFound(reason, what, id);
  return value;
}

/**
 * The machine-readable reason of a failed call, in-process or over gRPC alike: the ErrorInfo
 * detail of Herald's domain, else the `herald-reason` trailer.
 */
export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  for (const info of err.findDetails(ErrorInfoSchema)) {
    if (info.domain === ERROR_DOMAIN) return info.reason;
  }
  return err.metadata.get(REASON_TRAILER) ?? undefined;
}
