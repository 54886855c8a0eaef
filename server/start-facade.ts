import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Logger } from "../core/logger.js";
import { stopHttp } from "../core/transport/http-server.js";
import { facadeFor } from "./facade-for.js";
import { resolveConfig, type HeraldConfigInput } from "./config.js";
import { listenPort, readCoreCa, readCoreClientCert, reloadTls, ServerTls, tlsMode } from "./tls.js";
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
  // With a core key the facade's legacy routes check their clients' credentials through the core.
  const accessControl = config.auth.coreKey !== undefined;
  const exposure = checkExposure(server.host, server.insecure, accessControl);
  const coreCa = await readCoreCa(config.tls, coreUrl);
  const clientCert = await readCoreClientCert(config.tls, coreUrl);
  const tls = await ServerTls.load(config.tls, logger);
  // An https:// core is checked against --core-ca, or the system's roots without it; a core that
  // asks for a client certificate (--tls-client-ca) gets --core-client-cert.
  const coreTls = { ...(coreCa ? { ca: coreCa } : {}), ...clientCert };
  const session = new Http2SessionManager(coreUrl, { pingIntervalMs: 30_000 }, Object.keys(coreTls).length > 0 ? coreTls : undefined);
  const transport = createGrpcTransport({
    baseUrl: coreUrl,
    sessionManager: session,
    readMaxBytes: limits.maxMessageBytes,
    interceptors: config.auth.coreKey !== undefined ? [presentKey(config.auth.coreKey)] : [],
  });
  let serving = true;
  const facade = facadeFor(
    (service) => createClient(service, transport),
    config,
    logger,
    () => serving,
    accessControl,
  );
  const { server: http, port: httpPort } = await listenPort(facade.callback(), server.host, server.httpPort, tls, limits);
  logExposure(exposure, logger);
  logger.info(
    { host: server.host, httpPort, tls: tlsMode(tls), core: coreUrl, coreClientCert: clientCert !== undefined },
    "herald facade started, core over gRPC",
  );
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

/** Calls the core with the facade's own key, unless the call already carries its client's credential (admin routes). */
function presentKey(key: string): Interceptor {
  return (next) => (req) => {
    if (!req.header.has("authorization")) req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
}
