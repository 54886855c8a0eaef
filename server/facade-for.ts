import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type Koa from "koa";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import { ClientService, DeliveryService } from "../core/gen/herald/v1/eventhos_pb.js";
import type { Logger } from "../core/logger.js";
import { createFacade } from "../facade/app.js";
import type { HeraldConfig } from "./config.js";
import type { HeraldMetrics } from "../core/metrics/herald-metrics.js";

/** Makes the generated client of a core service: in-process, or over gRPC. */
export type ClientOf = <S extends DescService>(service: S) => Client<S>;

/** The HTTP facade in front of a core, whichever way it is reached. */
export function facadeFor(
  clientOf: ClientOf,
  config: HeraldConfig,
  logger: Logger,
  serving: () => boolean,
  accessControl: boolean,
  metrics?: HeraldMetrics,
): Koa {
  return createFacade({
    hub: clientOf(HubService),
    registry: clientOf(RegistryService),
    eventhos: {
      clients: clientOf(ClientService),
      delivery: clientOf(DeliveryService),
      adminRoutes: accessControl,
      successCode: config.eventhosFacade.successCode,
      tokenAddressFailureBurst: config.eventhosFacade.tokenAddressFailureBurst,
      tokenAddressFailureRefillMs: config.eventhosFacade.tokenAddressFailureRefillMs,
    },
    logger,
    limits: config.limits,
    serving,
    xms: config.xms,
    accessControl,
    ...(metrics ? { metrics } : {}),
  });
}
