import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Logger } from "../core/logger.js";
import { stopHttp } from "../core/transport/http-server.js";
import { facadeFor } from "./facade-for.js";
import { resolveConfig, type HeraldConfigInput } from "./config.js";
import { listenPort, readCoreCa, readCoreClientCert, reloadTls, ServerTls, tlsMode } from "./tls.js";
import { checkExposure, logExposure } from "./exposure.js";
import { HeraldMetrics } from "../core/metrics/herald-metrics.js";
import { sameDigest, sha256 } from "../core/auth/api-key-format.js";
import { metricsListener, metricsOnly, withMetricsRoute, type ScrapeCheck } from "./metrics-endpoint.js";
import { useFastTextEncoding } from "../core/wire/fast-text-encoding.js";

export interface FacadeServer {
  readonly httpPort: number;
  readonly metricsPort?: number;
  close(): Promise<void>;
  /** SIGHUP: re-reads the HTTP port's TLS files (the core's CA is read at start only); logs, never rejects. */
  reloadTls(): Promise<void>;
}

/**
 * The facade alone, in front of a core elsewhere (`--core-url`): the same facade code, with the
 * generated clients over gRPC instead of in-process. One HTTP/2 connection, kept alive.
 */
export async function startFacadeServer(input: HeraldConfigInput & { server: { coreUrl: string } }, logger: Logger): Promise<FacadeServer> {
  useFastTextEncoding();
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
  const metrics = new HeraldMetrics({ appLabels: 0, processMetrics: true });
  const facade = facadeFor(
    (service) => createClient(service, transport),
    config,
    logger,
    () => serving,
    accessControl,
    metrics,
  );
  const scrape = metricsListener(metrics, coreKeyCheck(config.auth.coreKey));
  const { server: http, port: httpPort } = await listenPort(
    withMetricsRoute(scrape, facade.callback()),
    server.host,
    server.httpPort,
    tls,
    limits,
  );
  const metricsServer =
    config.metrics.port === undefined ? undefined : await listenPort(metricsOnly(scrape), server.host, config.metrics.port, tls, limits);
  logExposure(exposure, logger);
  logger.info(
    {
      host: server.host,
      httpPort,
      ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
      tls: tlsMode(tls),
      core: coreUrl,
      coreClientCert: clientCert !== undefined,
    },
    "herald facade started, core over gRPC",
  );
  let closing: Promise<void> | undefined;
  return {
    httpPort,
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
    reloadTls: () => reloadTls(tls, logger),
    close: () =>
      (closing ??= (async () => {
        serving = false;
        await Promise.all([
          stopHttp(http, server.shutdownGraceMs),
          metricsServer && stopHttp(metricsServer.server, server.shutdownGraceMs),
        ]);
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

/**
 * Who may scrape a facade of its own: anyone without a core key (access control off), else the
 * holder of that key (an admin key of the core, so no more than the core's own /metrics asks).
 */
function coreKeyCheck(coreKey: string | undefined): ScrapeCheck {
  const digest = coreKey === undefined ? undefined : sha256(coreKey);
  return async (header) => {
    if (digest === undefined) return true;
    const credential = header === undefined ? undefined : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
    return credential !== undefined && sameDigest(sha256(credential), digest) ? true : 401;
  };
}
