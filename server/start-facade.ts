import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Logger } from "../core/logger.js";
import { listenHttp, stopHttp } from "../core/transport/http-server.js";
import { facadeFor } from "./facade-for.js";
import { resolveConfig, type HeraldConfigInput } from "./config.js";

export interface FacadeServer {
  readonly httpPort: number;
  close(): Promise<void>;
}

/**
 * The facade alone, in front of a core elsewhere (`--core-url`): the same facade code, with the
 * generated clients over gRPC instead of in-process. One HTTP/2 connection, kept alive.
 */
export async function startFacadeServer(input: HeraldConfigInput & { server: { coreUrl: string } }, logger: Logger): Promise<FacadeServer> {
  const config = resolveConfig(input);
  const { server, limits } = config;
  const coreUrl = input.server.coreUrl;
  const session = new Http2SessionManager(coreUrl, { pingIntervalMs: 30_000 });
  const transport = createGrpcTransport({ baseUrl: coreUrl, sessionManager: session, readMaxBytes: limits.maxMessageBytes });
  let serving = true;
  const facade = facadeFor(
    (service) => createClient(service, transport),
    config,
    logger,
    () => serving,
  );
  const { server: http, port: httpPort } = await listenHttp(facade.callback(), server.host, server.httpPort);
  logger.info({ httpPort, core: coreUrl }, "herald facade started, core over gRPC");
  let closing: Promise<void> | undefined;
  return {
    httpPort,
    close: () =>
      (closing ??= (async () => {
        serving = false;
        await stopHttp(http, server.shutdownGraceMs);
        session.abort();
        logger.info("herald facade stopped");
      })()),
  };
}
