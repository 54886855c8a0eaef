import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsOptions } from "node:https";
import { once } from "node:events";

/** The HTTP port's server: plain, or over TLS. HTTP/1.1 either way (Koa and the Connect adapter read IncomingMessage). */
export type HttpServer = Server | HttpsServer;

/**
 * What clients may hold of the HTTP port (fields of the `limits` section, core/rpc/limits.ts).
 * Node's requestTimeout covers receiving the request only, so long responses are not cut.
 */
export interface HttpServerLimits {
  httpRequestTimeoutMs: number;
  httpHeadersTimeoutMs: number;
  /** 0: no limit. */
  maxHttpConnections: number;
}

/** node:http options for `limits`. */
function serverOptions(limits: HttpServerLimits) {
  const headersTimeout = Math.min(limits.httpHeadersTimeoutMs, limits.httpRequestTimeoutMs);
  return {
    requestTimeout: limits.httpRequestTimeoutMs,
    headersTimeout,
    // Node looks for expired requests this often (30 s by default, far longer than a short timeout).
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 4))),
  };
}

function applyLimits<S extends HttpServer>(server: S, limits: HttpServerLimits): S {
  if (limits.maxHttpConnections > 0) server.maxConnections = limits.maxHttpConnections;
  return server;
}

/** An HTTP/1.1 server listening on `host:port` (0: any free), with the port it got. */
export async function listenHttp(
  handler: RequestListener,
  host: string,
  port: number,
  limits: HttpServerLimits,
): Promise<{ server: Server; port: number }> {
  return listen(applyLimits(createServer(serverOptions(limits), handler), limits), host, port);
}

/**
 * The same over TLS. `options` holds the certificate, key and, for mTLS, the client CA with
 * `requestCert`; ALPN offers only http/1.1, so a client never negotiates HTTP/2 here.
 * The certificate may be replaced later with `server.setSecureContext(…)`: open connections keep theirs.
 */
export async function listenHttps(
  handler: RequestListener,
  host: string,
  port: number,
  options: HttpsOptions,
  limits: HttpServerLimits,
): Promise<{ server: HttpsServer; port: number }> {
  const server = createHttpsServer({ ...options, ...serverOptions(limits), ALPNProtocols: ["http/1.1"] }, handler);
  return listen(applyLimits(server, limits), host, port);
}

async function listen<S extends HttpServer>(server: S, host: string, port: number): Promise<{ server: S; port: number }> {
  server.listen(port, host);
  await once(server, "listening");
  return { server, port: (server.address() as { port: number }).port };
}

/** Stops accepting, lets requests finish within the grace period, then cuts what is left. */
export function stopHttp(server: HttpServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
