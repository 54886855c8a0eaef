import { create } from "@bufbuild/protobuf";
import { ActionSchema, type Action } from "../gen/herald/v1/eventhos_pb.js";

/** What replies and the execution log show instead of a secret header's value. */
export const REDACTED = "[redacted]";

/** Header names whose values are always secret, whether an action marks them or not. */
export const ALWAYS_SECRET_HEADERS: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie", "x-api-key"]);

/** Whether a header (any case) is secret for an action that marks `marked` (lower-case names). */
export function isSecretHeader(name: string, marked: readonly string[]): boolean {
  const n = name.toLowerCase();
  return ALWAYS_SECRET_HEADERS.has(n) || marked.includes(n);
}

/** A copy of `headers` with the values of secret ones replaced by REDACTED. */
export function redactHeaders(headers: Record<string, string>, marked: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = isSecretHeader(k, marked) ? REDACTED : v;
  return out;
}

/** A copy of an action as replies show it: secret header values redacted (the stored one keeps them). */
export function redactAction(action: Action): Action {
  return create(ActionSchema, { ...action, headers: redactHeaders(action.headers, action.secretHeaders) });
}
