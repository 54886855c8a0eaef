import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Logger } from "../core/logger.js";
import { stopHttp } from "../core/transport/http-server.js";
import { facadeFor } from "./facade-for.js";
import { resolveConfig, type HeraldConfigInput } from "./config.js";
import { listenPort, readCoreCa, reloadTls, ServerTls, tlsMode } from "./tls.js";
import { checkExposure, logExposure } from "./exposure.js";

export interface FacadeServer {
  readonly httpPort: number;
  close(): Promise<void>;
  /** SIGHUP: re-reads the HTTP port's TLS files (the core's CA is read at start only); logs, never rejects. */
  reloadTls(): Promise<void>;
}

/**
 * The facade alone, in front of a core elsewhere (`--core-url`): the same facade code, with the
 * generated clients over gRPC instead of in-process. One HTTP/2 connection, kept alive.
 */
export async function startFacadeServer(input: HeraldConfigInput & { server: { coreUrl: string } }, logger: Logger): Promise<FacadeServer> {
  const config = resolveConfig(input);
  const { server, limits } = config;
  const coreUrl = input.server.coreUrl;
  // Before anything is opened: the facade's routes are unauthenticated too (ExposureError).
  const exposure = checkExposure(server.host, server.insecure);
  const coreCa = await readCoreCa(config.tls, coreUrl);
  const tls = await ServerTls.load(config.tls, logger);
  // An https:// core is checked against --core-ca, or the system's roots without it.
  const session = new Http2SessionManager(coreUrl, { pingIntervalMs: 30_000 }, coreCa ? { ca: coreCa } : undefined);
  const transport = createGrpcTransport({ baseUrl: coreUrl, sessionManager: session, readMaxBytes: limits.maxMessageBytes });
  let serving = true;
  const facade = facadeFor(
    (service) => createClient(service, transport),
    config,
    logger,
    () => serving,
  );
  const { server: http, port: httpPort } = await listenPort(facade.callback(), server.host, server.httpPort, tls);
  logExposure(exposure, logger);
  logger.info({ host: server.host, httpPort, tls: tlsMode(tls), core: coreUrl }, "herald facade started, core over gRPC");
  let closing: Promise<void> | undefined;
  return {
    httpPort,
    reloadTls: () => reloadTls(tls, logger),
    close: () =>
      (closing ??= (async () => {
        serving = false;
        await stopHttp(http, server.shutdownGraceMs);
        session.abort();
        logger.info("herald facade stopped");
      })()),
  };
}
