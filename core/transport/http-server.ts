import { createServer, type RequestListener, type Server } from "node:http";
import { once } from "node:events";

/** An HTTP/1.1 server listening on `host:port` (0: any free), with the port it got. */
export async function listenHttp(handler: RequestListener, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.listen(port, host);
  await once(server, "listening");
  return { server, port: (server.address() as { port: number }).port };
}

/** Stops accepting, lets requests finish within the grace period, then cuts what is left. */
export function stopHttp(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
