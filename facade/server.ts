import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import { RegistryService } from "../core/gen/herald/v1/registry_pb.js";
import { ClientService, DeliveryService } from "../core/gen/herald/v1/eventhos_pb.js";
import { defaultOptions, type HeraldOptions } from "../core/config.js";
import type { Logger } from "../core/logger.js";
import { listenHttp, stopHttp } from "../core/transport/http-server.js";
import { createFacade } from "./app.js";

export interface FacadeServer {
  readonly httpPort: number;
  close(): Promise<void>;
}

/**
 * The facade alone, in front of a core elsewhere (`--core-url`): the same facade code, with the
 * generated clients over gRPC instead of in-process. One HTTP/2 connection, kept alive.
 */
export async function startFacadeServer(
  partial: Partial<HeraldOptions> & { coreUrl: string },
  logger: Logger,
): Promise<FacadeServer> {
  const options: HeraldOptions = { ...defaultOptions, ...partial };
  const session = new Http2SessionManager(partial.coreUrl, { pingIntervalMs: 30_000 });
  const transport = createGrpcTransport({
    baseUrl: partial.coreUrl,
    sessionManager: session,
    readMaxBytes: options.limits.maxMessageBytes,
  });
  let serving = true;
  const facade = createFacade({
    hub: createClient(HubService, transport),
    registry: createClient(RegistryService, transport),
    eventhos: { clients: createClient(ClientService, transport), delivery: createClient(DeliveryService, transport), adminToken: options.adminToken },
    logger,
    limits: options.limits,
    serving: () => serving,
    xmsKeepaliveMs: options.xmsKeepaliveMs,
  });
  const { server: http, port: httpPort } = await listenHttp(facade.callback(), options.host, options.httpPort);
  logger.info({ httpPort, core: partial.coreUrl }, "herald facade started, core over gRPC");
  let closing: Promise<void> | undefined;
  return {
    httpPort,
    close: () =>
      (closing ??= (async () => {
        serving = false;
        await stopHttp(http, options.shutdownGraceMs);
        session.abort();
        logger.info("herald facade stopped");
      })()),
  };
}
