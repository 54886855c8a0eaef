import { Code, ConnectError } from "@connectrpc/connect";
import { reasonOf } from "../../core/rpc/errors.js";
import { authorizationCredential } from "../legacy-credential.js";

export { CHALLENGE } from "../legacy-credential.js";

const REASONS: Record<string, string> = {
  CREDENTIAL_REQUIRED: "this appid requires HTTP Basic authentication",
  CREDENTIAL_INVALID: "invalid credential",
  CREDENTIAL_EXPIRED: "credential expired",
  ROLE_REQUIRED: "the credential may not watch events",
  APP_NOT_ALLOWED: "appid is not a registered application, or not one the credential may use",
};

/**
 * What an XMS client presents in `Authorization`: the Basic password, or a Bearer API key; "" for
 * none or any other scheme (real XMS clients send nothing). Pure.
 */
export function xmsCredential(authorization: string): string {
  return authorizationCredential(authorization) ?? "";
}

/** A refusal of AuthorizeLegacy → [status, reason] of the error document; undefined for any other failure. Pure. */
export function xmsRefusal(err: unknown): [401 | 403, string] | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  const reason = REASONS[reasonOf(err) ?? ""];
  if (err.code === Code.Unauthenticated) return [401, reason ?? "authentication failed"];
  if (err.code === Code.PermissionDenied) return [403, reason ?? "access denied"];
  return undefined;
}
