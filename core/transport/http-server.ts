import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsOptions } from "node:https";
import { once } from "node:events";

/** The HTTP port's server: plain, or over TLS. HTTP/1.1 either way (Koa and the Connect adapter read IncomingMessage). */
export type HttpServer = Server | HttpsServer;

/** An HTTP/1.1 server listening on `host:port` (0: any free), with the port it got. */
export async function listenHttp(handler: RequestListener, host: string, port: number): Promise<{ server: Server; port: number }> {
  return listen(createServer(handler), host, port);
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
): Promise<{ server: HttpsServer; port: number }> {
  return listen(createHttpsServer({ ...options, ALPNProtocols: ["http/1.1"] }, handler), host, port);
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
