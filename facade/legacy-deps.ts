import type { Context } from "koa";
import type { Client } from "@connectrpc/connect";
import type { HubService } from "../core/gen/herald/v1/hub_pb.js";
import type { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import type { Logger } from "../core/logger.js";

/** What a legacy surface on the core's clients needs (Kony / Volt MX, XMS). */
export interface LegacyDeps {
  hub: Client<typeof HubService>;
  registry: Client<typeof RegistryService>;
  /** The request body as plain values, XML or JSON, within the limits (facade/body.ts). */
  readBody: (ctx: Context) => Promise<unknown>;
  logger: Logger;
}
