import Router from "@koa/router";
import type { Context } from "koa";
import type { Client } from "@connectrpc/connect";
import type { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import type { RegistryService } from "../../core/gen/herald/v1/registry_pb.js";
import type { ClientService, DeliveryService } from "../../core/gen/herald/v1/eventhos_pb.js";
import type { Logger } from "../../core/logger.js";
import type { BodyLimits } from "../body.js";
import { createJsonReader } from "./read-body.js";
import { sendEvent } from "./send.js";
import { issueToken } from "./token.js";
import { adminRoutes } from "./admin.js";
import { CODES, reply } from "./codes.js";

/** The core clients the eventhos surface needs, beyond hub and registry. */
export interface EventhosClients {
  clients: Client<typeof ClientService>;
  delivery: Client<typeof DeliveryService>;
  /** Bearer token of the admin routes; undefined turns them off (every call 401202). */
  adminToken: string | undefined;
}

export interface EventhosDeps extends EventhosClients {
  hub: Client<typeof HubService>;
  registry: Client<typeof RegistryService>;
  logger: Logger;
  readJson: (ctx: Context) => Promise<unknown>;
  /** JSON or urlencoded (/auth/token). */
  readForm: (ctx: Context) => Promise<unknown>;
}

/** The eventhos surface: /event/send, /auth/token and the admin routes. */
export function eventhosRouter(deps: Omit<EventhosDeps, "readJson" | "readForm"> & { limits: BodyLimits }): Router {
  const { limits, ...rest } = deps;
  const full: EventhosDeps = {
    ...rest,
    readJson: createJsonReader(limits, { form: false }),
    readForm: createJsonReader(limits, { form: true }),
  };
  const router = new Router();
  router.post("/event/send", (ctx) => sendEvent(ctx, full));
  router.post("/auth/token", (ctx) => issueToken(ctx, full));
  // Another method on the producer routes: the contract's shape, before the admin routes
  // (GET /event/:id) could take it for an event id.
  for (const path of ["/event/send", "/auth/token"]) {
    router.all(path, (ctx) => {
      ctx.set("Allow", "POST");
      reply(ctx, CODES.METHOD_NOT_ALLOWED);
    });
  }
  adminRoutes(router, full);
  return router;
}
