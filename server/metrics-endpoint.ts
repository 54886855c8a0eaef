import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { HeraldMetrics } from "../core/metrics/herald-metrics.js";

/** Whether a scrape may read the metrics: yes, or the HTTP status that says why not. */
export type ScrapeCheck = (authorization: string | undefined) => Promise<true | 401 | 403>;

export const METRICS_PATH = "/metrics";

/**
 * GET /metrics in the Prometheus text format, once `check` lets the scrape through (with access
 * control on: a credential with the admin role, sent as Prometheus sends one,
 * `authorization: Bearer …` from its `credentials_file`).
 */
export function metricsListener(metrics: HeraldMetrics, check: ScrapeCheck): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      if (req.method !== "GET" && req.method !== "HEAD") return answer(res, 405, "use GET", { allow: "GET, HEAD" });
      const allowed = await check(req.headers.authorization);
      if (allowed === 401) return answer(res, 401, "a credential is required", { "www-authenticate": 'Bearer realm="herald"' });
      if (allowed === 403) return answer(res, 403, "the admin role is required");
      const text = await metrics.text();
      res.writeHead(200, { "content-type": metrics.contentType, "content-length": Buffer.byteLength(text) });
      res.end(req.method === "HEAD" ? undefined : text);
    })().catch(() => {
      if (!res.headersSent) answer(res, 500, "metrics could not be collected");
      else res.destroy();
    });
  };
}

/** `listener` for /metrics, `next` for everything else. */
export function withMetricsRoute(listener: RequestListener, next: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? "";
    if (url === METRICS_PATH || url.startsWith(`${METRICS_PATH}?`)) listener(req, res);
    else next(req, res);
  };
}

/** A port of its own: /metrics, and 404 for anything else. */
export function metricsOnly(listener: RequestListener): RequestListener {
  return withMetricsRoute(listener, (_req, res) => answer(res, 404, "only /metrics is served here"));
}

function answer(res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}
