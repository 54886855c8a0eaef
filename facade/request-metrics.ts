import type { Context, Next } from "koa";

/** Where the facade counts its requests (the composition root hands the process's metrics). */
export interface FacadeMetrics {
  /** One request answered; `seconds` undefined for a long-held stream, whose time says nothing. */
  facadeRequest(contract: string, route: string, status: number, seconds: number | undefined): void;
}

/**
 * The contract a request belongs to (a label with a few values): from its path's first segment;
 * eventhos routes have no common prefix, so any other route that matched is eventhos's.
 */
export function contractOf(path: string, route: string): string {
  if (path.startsWith("/kpns/")) return "kony";
  if (path.startsWith("/vpns/")) return "voltmx";
  if (path.startsWith("/eventhandlers") || path.startsWith("/default/eventhandlers")) return "xms";
  if (path === "/healthz") return "health";
  return route === "unmatched" ? "other" : "eventhos";
}

/** An XMS event stream: held open for as long as the client reads, so its time says nothing. */
const isLongHeld = (ctx: Context, route: string) => ctx.method === "GET" && route.endsWith("/eventhandlers/:id");

/**
 * Counts each legacy request by contract, route as declared (`/kpns/api/v1/status/push/request/:id`,
 * never the path itself, whose ids would make the label unbounded) and HTTP status, and times it.
 * Outermost, so that every answer is counted, errors included.
 */
export function requestMetrics(metrics: FacadeMetrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = typeof matched === "string" ? matched : ctx.path === "/healthz" ? "/healthz" : "unmatched";
      metrics.facadeRequest(
        contractOf(ctx.path, route),
        route,
        ctx.status,
        isLongHeld(ctx, route) ? undefined : (performance.now() - start) / 1000,
      );
    }
  };
}
