import { ConnectError } from "@connectrpc/connect";
import type { Context } from "koa";
import { reasonOf } from "../../core/rpc/errors.js";
import { FormatError } from "../format-error.js";
import { TooLargeError } from "../body.js";
import { CODES, reply } from "./codes.js";
import { UnsupportedTypeError } from "./read-body.js";
import type { EventhosDeps } from "./eventhos-deps.js";

/**
 * POST /auth/token, OAuth2 client_credentials (form or JSON): `{"code":200000,"message":"success",
 * "content":{"access_token","jwt_token","token_type":"Bearer","expires_in"}}`. `jwt_token` (the same
 * token) is where the original's clients read it (nodeboot-oauth2-starter's reply).
 */
export async function issueToken(ctx: Context, deps: EventhosDeps): Promise<void> {
  // The socket's peer, never X-Forwarded-For: a client could claim any address.
  const address = ctx.request.socket.remoteAddress ?? "";
  if (!deps.tokenFailures.allowed(address)) {
    ctx.req.resume(); // the body is not read
    ctx.set("Retry-After", String(Math.ceil(deps.tokenAddressFailureRefillMs / 1000)));
    return reply(ctx, CODES.TOO_MANY_ATTEMPTS);
  }
  let body: unknown;
  try {
    body = await deps.readForm(ctx);
  } catch (err) {
    if (err instanceof UnsupportedTypeError) return reply(ctx, CODES.UNSUPPORTED_TYPE);
    if (err instanceof TooLargeError) return reply(ctx, CODES.TOO_LARGE);
    if (err instanceof FormatError) return reply(ctx, CODES.INVALID_JSON);
    throw err;
  }
  const field = (name: string) => {
    const v = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined;
    return typeof v === "string" ? v : "";
  };
  if (field("grant_type") !== "client_credentials") return reply(ctx, CODES.CANNOT_GENERATE_TOKEN);
  if (field("client_id") === "") return reply(ctx, CODES.CLIENT_NOT_FOUND);
  try {
    const res = await deps.clients.issueToken({ clientId: field("client_id"), clientSecret: field("client_secret") });
    reply(ctx, CODES.SUCCESS, {
      access_token: res.accessToken,
      jwt_token: res.accessToken,
      token_type: "Bearer",
      expires_in: res.expiresIn,
    });
  } catch (err) {
    switch (reasonOf(err)) {
      case "CLIENT_NOT_FOUND":
      case "INVALID_ARGUMENT":
        deps.tokenFailures.failed(address);
        return reply(ctx, CODES.CLIENT_NOT_FOUND);
      case "UNAUTHENTICATED":
        deps.tokenFailures.failed(address);
        return reply(ctx, CODES.CANNOT_GENERATE_TOKEN);
      case "TOO_MANY_ATTEMPTS":
        ctx.set("Retry-After", String(Math.ceil(retryAfterMs(err) / 1000)));
        return reply(ctx, CODES.TOO_MANY_ATTEMPTS);
      case "BUSY":
        ctx.set("Retry-After", "1");
        return reply(ctx, CODES.BUSY);
      default:
        deps.logger.error({ err, path: ctx.path }, "eventhos token failed");
        return reply(ctx, CODES.NOT_CATEGORIZED);
    }
  }
}

/** The wait the core named (herald-retry-after-ms), else a second. */
function retryAfterMs(err: unknown): number {
  const ms = err instanceof ConnectError ? Number(err.metadata.get("herald-retry-after-ms")) : Number.NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : 1000;
}
