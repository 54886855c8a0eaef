import { ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../core/gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN, REASON_TRAILER } from "../core/rpc/errors.js";

/** The core's machine-readable reason of a failed call, in-process or over gRPC alike. */
export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  for (const info of err.findDetails(ErrorInfoSchema)) {
    if (info.domain === ERROR_DOMAIN) return info.reason;
  }
  return err.metadata.get(REASON_TRAILER) ?? undefined;
}
