import { isIP } from "node:net";
import { Agent, buildConnector, request } from "undici";
import { OutboundGuard, OutboundRefusedError } from "./outbound-guard.js";

export interface CallRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export interface CallResult {
  /** A 2xx answer. */
  ok: boolean;
  /** Aborted by `signal` (shutdown or lost ownership), not by the target. */
  interrupted: boolean;
  durationMs: number;
  status?: number;
  headers?: Record<string, string>;
  /** The first `logBodyBytes` bytes. */
  body?: string;
  error?: string;
  /** Refused before anything was sent (scheme, address): retrying cannot help. */
  refused?: boolean;
}

export interface ActionCallerOptions {
  /** The whole call, connect to last body byte (ms). */
  timeoutMs: number;
  logBodyBytes: number;
  /** Host names, IP addresses and CIDR ranges called even though private (comma-separated). */
  allowHosts: string;
}

/**
 * Outgoing HTTP calls of contracts: one undici Agent (pooled keep-alive connections per origin).
 * Every connection is checked where it is made, on the address connected to: loopback, private,
 * link-local, multicast and other non-public addresses are refused unless allowed. Redirects are
 * not followed (a 3xx is the attempt's outcome).
 */
export class ActionCaller {
  private readonly agent: Agent;

  constructor(private readonly options: ActionCallerOptions) {
    const guard = new OutboundGuard(options.allowHosts);
    const connect = buildConnector({ timeout: options.timeoutMs, lookup: guard.lookup });
    this.agent = new Agent({
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      // An IP literal is not looked up by net.connect: checked here; a name is checked by lookup.
      connect: (opts, callback) => {
        const refusal = isIP(opts.hostname) ? guard.refusal(opts.hostname, opts.hostname) : undefined;
        if (refusal !== undefined) return callback(new OutboundRefusedError(refusal), null);
        return connect(opts, callback);
      },
    });
  }

  async call(req: CallRequest, signal: AbortSignal): Promise<CallResult> {
    const started = performance.now();
    if (!/^https?:/i.test(req.url)) {
      return { ok: false, interrupted: false, refused: true, durationMs: 0, error: "refused: only http and https URLs are called" };
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    const onAbort = () => controller.abort(new Error("interrupted: this instance is stopping"));
    signal.addEventListener("abort", onAbort);
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const res = await request(req.url, {
        dispatcher: this.agent,
        method: req.method as "GET",
        headers: req.headers,
        body: req.body ?? null,
        signal: controller.signal,
      });
      const chunks: Buffer[] = [];
      let kept = 0;
      // Read it all (keeps the connection reusable) but keep only the head for the log.
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (kept < this.options.logBodyBytes) {
          const part = chunk.subarray(0, this.options.logBodyBytes - kept);
          chunks.push(part);
          kept += part.length;
        }
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      return {
        ok,
        interrupted: false,
        durationMs: elapsed(),
        status: res.statusCode,
        headers,
        body: Buffer.concat(chunks).toString("utf8"),
        ...(ok ? {} : { error: `status ${res.statusCode}` }),
      };
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      return {
        ok: false,
        interrupted: signal.aborted,
        refused: reason instanceof OutboundRefusedError,
        durationMs: elapsed(),
        error: reason instanceof Error ? reason.message : String(reason),
      };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Cuts what is still open (callers abort their calls first). */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}
