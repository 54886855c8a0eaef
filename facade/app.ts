import Koa from "koa";
import type { Client } from "@connectrpc/connect";
import type { HubService } from "../core/gen/herald/v1/hub_pb.js";
import type { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import type { Logger } from "../core/logger.js";
import { createBodyReader, type BodyLimits } from "./body.js";
import { kpnsRouter } from "./kpns/routes.js";
import { xmsRouter } from "./xms/routes.js";
import type { XmsConfig } from "./xms/xms-config.js";
import { eventhosRouter, type EventhosClients } from "./eventhos/routes.js";
import { staticRoutes } from "./static-routes.js";
import { requestMetrics, type FacadeMetrics } from "./request-metrics.js";

export interface FacadeDeps {
  /** The core, in-process or over gRPC: the facade never touches Redis. */
  hub: Client<typeof HubService>;
  registry: Client<typeof RegistryService>;
  /** The eventhos surface (clients, contracts, delivery log); absent: not served. */
  eventhos?: EventhosClients;
  logger: Logger;
  limits: BodyLimits & {
    /** Most messages in one Kony/Volt MX push request; more gets the contract's 413. */
    maxPushMessages: number;
  };
  /** False while shutting down: health answers 503 so load balancers drain this instance. */
  serving: () => boolean;
  xms: XmsConfig;
  /**
   * Access control is on: legacy routes check their client's credential with the core
   * (RegistryService.AuthorizeLegacy) before acting. Off: they are open, as the core is.
   */
  accessControl: boolean;
  /** Where requests are counted and timed; absent: not measured. */
  metrics?: FacadeMetrics;
}

/** The HTTP facade: health and the legacy contracts, each in its own module. */
export function createFacade(deps: FacadeDeps): Koa {
  const app = new Koa();
  if (deps.metrics) app.use(requestMetrics(deps.metrics));
  // Errors of the connection itself (a client cut by the request timeout, a reset), which no route
  // can answer: Koa would print them with their stack to stderr.
  app.on("error", (err: Error & { code?: string }, ctx?: { path?: string }) => {
    deps.logger.debug({ code: err.code, message: err.message, path: ctx?.path }, "facade connection error");
  });
  // Each contract answers its own errors in its own shape; this catches only what escapes them.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      // A client that went away makes reads and writes fail: that is its doing, one line is enough.
      // (req.destroyed is no sign: a request whose body was read is destroyed too.)
      if (ctx.res.destroyed || ctx.req.socket.destroyed) {
        deps.logger.debug({ path: ctx.path, err: String(err) }, "facade request aborted by its client");
        return;
      }
      deps.logger.error({ err, path: ctx.path }, "facade request failed");
      ctx.status = 500;
      ctx.body = { error: "internal error" };
    }
  });
  // Not async: every request passes here, and only /healthz stops.
  app.use((ctx, next) => {
    if (ctx.path !== "/healthz") return next();
    const serving = deps.serving();
    ctx.status = serving ? 200 : 503;
    ctx.body = { status: serving ? "serving" : "shutting down" };
    return Promise.resolve();
  });
  const legacy = { hub: deps.hub, registry: deps.registry, readBody: createBodyReader(deps.limits), logger: deps.logger };
  const kpns = kpnsRouter({ ...legacy, accessControl: deps.accessControl, maxPushMessages: deps.limits.maxPushMessages });
  const eventhos =
    deps.eventhos && eventhosRouter({ ...deps.eventhos, hub: deps.hub, registry: deps.registry, logger: deps.logger, limits: deps.limits });
  // Before the routers: their exact routes without the routers' per-request cost (an eventhos
  // request went through the Kony and XMS routers first). No two contracts share a path.
  app.use(staticRoutes(kpns));
  if (eventhos) app.use(staticRoutes(eventhos));
  app.use(kpns.routes());
  app.use(kpns.allowedMethods());
  const xms = xmsRouter({ ...legacy, keepaliveMs: deps.xms.keepaliveMs, accessControl: deps.accessControl });
  app.use(xms.routes());
  app.use(xms.allowedMethods());
  if (eventhos) {
    app.use(eventhos.routes());
    app.use(eventhos.allowedMethods());
  }
  return app;
}
