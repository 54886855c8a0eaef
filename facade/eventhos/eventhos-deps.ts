import type { Context } from "koa";
import type { Client } from "@connectrpc/connect";
import type { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import type { RegistryService } from "../../core/gen/herald/v1/registry_pb.js";
import type { ClientService, DeliveryService } from "../../core/gen/herald/v1/eventhos_pb.js";
import type { Logger } from "../../core/logger.js";
import type { EventhosSuccessCode } from "./eventhos-facade-config.js";
import type { FailureLimiter } from "./failure-limiter.js";

/** The core clients the eventhos surface needs, beyond hub and registry, and its settings. */
export interface EventhosClients {
  clients: Client<typeof ClientService>;
  delivery: Client<typeof DeliveryService>;
  /**
   * Access control is on: the admin routes are served, each call carrying the request's
   * `authorization` to the core, which answers only admin credentials. Off: every call 401202.
   */
  adminRoutes: boolean;
  /** `code` of a successful /event/send (EventhosFacadeConfig). */
  successCode: EventhosSuccessCode;
  /** Failed /auth/token requests per remote address (EventhosFacadeConfig). */
  tokenAddressFailureBurst: number;
  tokenAddressFailureRefillMs: number;
}

export interface EventhosDeps extends EventhosClients {
  hub: Client<typeof HubService>;
  registry: Client<typeof RegistryService>;
  logger: Logger;
  readJson: (ctx: Context) => Promise<unknown>;
  /** The /event/send body: JSON, or no body at all, read as `{}` as the original does. */
  readEvent: (ctx: Context) => Promise<unknown>;
  /** JSON or urlencoded (/auth/token). */
  readForm: (ctx: Context) => Promise<unknown>;
  /** Failed /auth/token requests by remote address. */
  tokenFailures: FailureLimiter;
}
