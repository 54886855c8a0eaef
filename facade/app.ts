import Koa from "koa";
import type { Client } from "@connectrpc/connect";
import type { HubService } from "../core/gen/herald/v1/hub_pb.js";
import type { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import type { Logger } from "../core/logger.js";

export interface FacadeDeps {
  /** The core, in-process or over gRPC: the facade never touches Redis. */
  hub: Client<typeof HubService>;
  registry: Client<typeof RegistryService>;
  logger: Logger;
  /** False while shutting down: health answers 503 so load balancers drain this instance. */
  serving: () => boolean;
}

/** The HTTP facade. For now: health; the legacy contracts mount here. */
export function createFacade(deps: FacadeDeps): Koa {
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      deps.logger.error({ err, path: ctx.path }, "facade request failed");
      ctx.status = 500;
      ctx.body = { error: "internal error" };
    }
  });
  app.use(async (ctx, next) => {
    if (ctx.path !== "/healthz") return next();
    const serving = deps.serving();
    ctx.status = serving ? 200 : 503;
    ctx.body = { status: serving ? "serving" : "shutting down" };
  });
  return app;
}
