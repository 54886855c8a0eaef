import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ServiceBinding } from "./service-binding.js";

export interface ConnectHandlerOptions {
  services: ServiceBinding[];
  /** Aborts every handler's signal (shutdown). */
  shutdownSignal: AbortSignal;
  /** Largest request message (bytes). */
  readMaxBytes: number;
  /** Every request that is not a Connect / gRPC-Web call of these services. */
  fallback: RequestListener;
}

/**
 * Serves the services over Connect and gRPC-Web on an HTTP/1.1 port, and passes every other request
 * to `fallback`. gRPC itself is grpc-js's, on its own port.
 */
export function createConnectHandler(options: ConnectHandlerOptions): RequestListener {
  const connect = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const { service, impl } of options.services) router.service(service, impl);
    },
    grpc: false,
    shutdownSignal: options.shutdownSignal,
    readMaxBytes: options.readMaxBytes,
    // The port is HTTP/1.1 (node:http createServer), so the request really is an IncomingMessage.
    fallback: (req, res) => void options.fallback(req as IncomingMessage, res as ServerResponse),
  });
  // Connect routes are all /<package>.<Service>/<Method>: only those go through the adapter, so
  // other requests skip its routing (measured: ~15% of a facade request's CPU).
  const prefixes = [
    ...new Set(options.services.map(({ service }) => `/${service.typeName.slice(0, service.typeName.lastIndexOf(".") + 1)}`)),
  ];
  return (req, res) => {
    const url = req.url ?? "";
    if (prefixes.some((p) => url.startsWith(p))) connect(req, res);
    else options.fallback(req, res);
  };
}
