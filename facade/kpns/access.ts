import { Code, ConnectError } from "@connectrpc/connect";
import type { Context } from "koa";
import { Role } from "../../core/gen/herald/v1/registry_pb.js";
import { reasonOf } from "../../core/rpc/errors.js";
import type { LegacyDeps } from "../legacy-deps.js";
import { authorizationCredential, BEARER } from "../legacy-credential.js";

export { CHALLENGE } from "../legacy-credential.js";

/** The client's credential refused by the core: answered 401 or 403 in the route's own shape. */
export class AccessRefused extends Error {
  override readonly name = "AccessRefused";
  constructor(
    readonly status: 401 | 403,
    message: string,
    /** The core's reason (CREDENTIAL_REQUIRED, APP_NOT_ALLOWED, …), for the log. */
    readonly reason: string,
  ) {
    super(message);
  }
}

/** Not in the documents; written in their style (a sentence, a trailing space). */
const DESCRIPTIONS: Record<string, string> = {
  CREDENTIAL_REQUIRED: "Authentication required: send the application's legacy key or an API key. ",
  CREDENTIAL_INVALID: "Invalid credential. ",
  CREDENTIAL_EXPIRED: "Credential expired. ",
  ROLE_REQUIRED: "The credential may not publish. ",
  APP_NOT_ALLOWED: "The credential may not act for this application. ",
};

/**
 * What a Kony / Volt MX client presents: `Authorization` (Basic password or Bearer), else
 * `X-Kony-Authorization` (the raw value, or `Bearer X`); "" when nothing. Pure.
 */
export function konyCredential(authorization: string, konyAuthorization: string): string {
  const kony = konyAuthorization.trim();
  return authorizationCredential(authorization) || (BEARER.exec(kony)?.[1] ?? kony);
}

/** A refusal of AuthorizeLegacy → what the client is told; undefined for any other failure. Pure. */
export function accessRefusal(err: unknown): AccessRefused | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  const reason = reasonOf(err) ?? "";
  if (err.code === Code.Unauthenticated) return new AccessRefused(401, DESCRIPTIONS[reason] ?? "Authentication failed. ", reason);
  if (err.code === Code.PermissionDenied) return new AccessRefused(403, DESCRIPTIONS[reason] ?? "Access denied. ", reason);
  return undefined;
}

/**
 * With access control on, checks that the client may publish to `appId` (its legacy key, an API
 * key with the publish role, or an open network of the app) before the route acts: the core's
 * own check lets the facade's in-process calls through, so this one is the client's. Throws
 * AccessRefused; other failures (an invalid app id, the core unavailable) as they come.
 */
export async function authorizePublish(ctx: Context, deps: LegacyDeps & { accessControl: boolean }, appId: string): Promise<void> {
  if (!deps.accessControl) return;
  try {
    await deps.registry.authorizeLegacy({
      appId,
      credential: konyCredential(ctx.get("authorization"), ctx.get("x-kony-authorization")),
      // The socket's peer, never X-Forwarded-For: a client could claim any address.
      sourceIp: ctx.request.socket.remoteAddress ?? "",
      role: Role.PUBLISH,
    });
  } catch (err) {
    throw accessRefusal(err) ?? err;
  }
}
