import { METHODS } from "node:http";
import Router from "@koa/router";
import type { BodyLimits } from "../body.js";
import { createJsonReader } from "./read-body.js";
import { sendEvent } from "./send.js";
import { issueToken } from "./token.js";
import { adminRoutes } from "./admin.js";
import { FailureLimiter } from "./failure-limiter.js";
import { CODES, reply } from "./codes.js";
import type { EventhosDeps } from "./eventhos-deps.js";

export type { EventhosClients } from "./eventhos-deps.js";

/** The eventhos surface: /event/send, /auth/token and the admin routes. */
export function eventhosRouter(
  deps: Omit<EventhosDeps, "readJson" | "readEvent" | "readForm" | "tokenFailures"> & { limits: BodyLimits },
): Router {
  const { limits, ...rest } = deps;
  const full: EventhosDeps = {
    ...rest,
    readJson: createJsonReader(limits, { form: false }),
    readEvent: createJsonReader(limits, { form: false, emptyIsObject: true }),
    readForm: createJsonReader(limits, { form: true }),
    tokenFailures: new FailureLimiter(deps.tokenAddressFailureBurst, deps.tokenAddressFailureRefillMs),
  };
  const router = new Router();
  router.post("/event/send", (ctx) => sendEvent(ctx, full));
  router.post("/auth/token", (ctx) => issueToken(ctx, full));
  // Another method on the producer routes: the contract's shape, before the admin routes
  // (GET /event/:id) could take it for an event id. Every method but POST (rather than `all`), so
  // that POST matches one route alone and staticRoutes can serve it without the router.
  const others = METHODS.filter((m) => m !== "POST");
  for (const path of ["/event/send", "/auth/token"]) {
    router.register(path, others, (ctx) => {
      ctx.set("Allow", "POST");
      reply(ctx, CODES.METHOD_NOT_ALLOWED);
    });
  }
  adminRoutes(router, full);
  return router;
}
