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
  if (!deps.tokenFailures.reserve(address)) {
    ctx.req.resume(); // the body is not read
    ctx.set("Retry-After", String(Math.ceil(deps.tokenAddressFailureRefillMs / 1000)));
    return reply(ctx, CODES.TOO_MANY_ATTEMPTS);
  }
  // Reserved while the attempt runs (attempts in flight count); given back unless the credentials were wrong.
  let wrong = false;
  try {
    wrong = await attempt(ctx, deps);
  } finally {
    if (!wrong) deps.tokenFailures.refund(address);
  }
}

/** Answers the token request; true when the client id or secret was wrong. */
async function attempt(ctx: Context, deps: EventhosDeps): Promise<boolean> {
  let body: unknown;
  try {
    body = await deps.readForm(ctx);
  } catch (err) {
    if (err instanceof UnsupportedTypeError) reply(ctx, CODES.UNSUPPORTED_TYPE);
    else if (err instanceof TooLargeError) reply(ctx, CODES.TOO_LARGE);
    else if (err instanceof FormatError) reply(ctx, CODES.INVALID_JSON);
    else throw err;
    return false;
  }
  const field = (name: string) => {
    const v = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined;
    return typeof v === "string" ? v : "";
  };
  if (field("grant_type") !== "client_credentials") {
    reply(ctx, CODES.CANNOT_GENERATE_TOKEN);
    return false;
  }
  if (field("client_id") === "") {
    reply(ctx, CODES.CLIENT_NOT_FOUND);
    return false;
  }
  try {
    const res = await deps.clients.issueToken({ clientId: field("client_id"), clientSecret: field("client_secret") });
    reply(ctx, CODES.SUCCESS, {
      access_token: res.accessToken,
      jwt_token: res.accessToken,
      token_type: "Bearer",
      expires_in: res.expiresIn,
    });
    return false;
  } catch (err) {
    switch (reasonOf(err)) {
      case "CLIENT_NOT_FOUND":
      case "INVALID_ARGUMENT":
        reply(ctx, CODES.CLIENT_NOT_FOUND);
        return true;
      case "UNAUTHENTICATED":
        reply(ctx, CODES.CANNOT_GENERATE_TOKEN);
        return true;
      case "TOO_MANY_ATTEMPTS":
        ctx.set("Retry-After", String(Math.ceil(retryAfterMs(err) / 1000)));
        reply(ctx, CODES.TOO_MANY_ATTEMPTS);
        return false;
      case "BUSY":
        ctx.set("Retry-After", "1");
        reply(ctx, CODES.BUSY);
        return false;
      default:
        deps.logger.error({ err, path: ctx.path }, "eventhos token failed");
        reply(ctx, CODES.NOT_CATEGORIZED);
        return false;
    }
  }
}

/** The wait the core named (herald-retry-after-ms), else a second. */
function retryAfterMs(err: unknown): number {
  const ms = err instanceof ConnectError ? Number(err.metadata.get("herald-retry-after-ms")) : Number.NaN;
  return Number.isFinite(ms) && ms > 0 ? ms : 1000;
}
