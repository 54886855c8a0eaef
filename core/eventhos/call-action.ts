import { isIP } from "node:net";
import { Agent, buildConnector, util, type Dispatcher } from "undici";
import { OutboundGuard, OutboundRefusedError } from "./outbound-guard.js";
import type { StopSignal } from "./job-stop.js";

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

  /**
   * One call, through the agent's dispatch with a handler of our own: what `undici.request` does,
   * without its per-call AbortController, async resource and response stream (~a sixth of a
   * delivering instance's undici time). The results are the same: headers parsed by undici's own
   * `parseHeaders`, errors as undici raises them, the reason given when aborted.
   */
  call(req: CallRequest, signal: StopSignal): Promise<CallResult> {
    const started = performance.now();
    if (!/^https?:/i.test(req.url)) {
      return Promise.resolve({
        ok: false,
        interrupted: false,
        refused: true,
        durationMs: 0,
        error: "refused: only http and https URLs are called",
      });
    }
    return new Promise((resolve) => {
      const call = new Call(this.options.logBodyBytes, signal, started, resolve);
      try {
        // As undici.request reads a string URL (util.parseURL, makeDispatcher).
        const url = new URL(req.url);
        const path = url.search ? `${url.pathname}${url.search}` : url.pathname;
        const method = (req.method || (req.body ? "PUT" : "GET")) as Dispatcher.HttpMethod;
        call.start(this.options.timeoutMs);
        this.agent.dispatch({ origin: url.origin, path, method, headers: req.headers, body: req.body ?? null }, call);
      } catch (err) {
        call.onError(err as Error);
      }
    });
  }

  /** Cuts what is still open (callers abort their calls first). */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}

/** The handler of one call: the first `logBodyBytes` of the body kept, all of it read (the connection stays reusable). */
class Call implements Dispatcher.DispatchHandler {
  private abortCall: ((err?: Error) => void) | undefined;
  /** Why we aborted (timeout, or `signal`): the attempt's error, whatever undici reports then. */
  private reason: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private status = 0;
  private headers: Record<string, string> | undefined;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private done = false;

  constructor(
    private readonly logBodyBytes: number,
    private readonly signal: StopSignal,
    private readonly started: number,
    private readonly resolve: (result: CallResult) => void,
  ) {}

  start(timeoutMs: number): void {
    this.timer = setTimeout(() => this.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    this.signal.addEventListener("abort", this.onStop);
  }

  private readonly onStop = () => this.abort(new Error("interrupted: this instance is stopping"));

  /** Before the request is on a connection, undici has nothing to abort: it is aborted when it gets one. */
  private abort(reason: Error): void {
    if (this.reason || this.done) return;
    this.reason = reason;
    this.abortCall?.(reason);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.reason) abort(this.reason);
    else this.abortCall = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx answers are not the outcome: the final one follows.
    if (statusCode < 200) return true;
    this.status = statusCode;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(util.parseHeaders(rawHeaders)))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    this.headers = headers;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.kept < this.logBodyBytes) {
      const part = chunk.subarray(0, this.logBodyBytes - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    }
    return true;
  }

  onComplete(): void {
    const ok = this.status >= 200 && this.status < 300;
    this.finish({
      ok,
      interrupted: false,
      durationMs: this.elapsed(),
      status: this.status,
      headers: this.headers ?? {},
      body: Buffer.concat(this.chunks).toString("utf8"),
      ...(ok ? {} : { error: `status ${this.status}` }),
    });
  }

  onError(err: Error): void {
    const reason = this.reason ?? err;
    this.finish({
      ok: false,
      interrupted: this.signal.aborted,
      refused: reason instanceof OutboundRefusedError,
      durationMs: this.elapsed(),
      error: reason instanceof Error ? reason.message : String(reason),
    });
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.started);
  }

  private finish(result: CallResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.signal.removeEventListener("abort", this.onStop);
    this.resolve(result);
  }
}
