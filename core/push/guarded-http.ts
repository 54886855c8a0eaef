import { isIP } from "node:net";
import { Agent, buildConnector, request } from "undici";
import { type OutboundGuard, OutboundRefusedError } from "../eventhos/outbound-guard.js";

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Why a call got no answer. */
export class HttpCallError extends Error {
  constructor(
    message: string,
    /** Refused by the outbound guard: retrying cannot help. */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;

/**
 * HTTP/1.1 calls to push services (FCM, its token endpoint, Web Push endpoints): one undici Agent,
 * keep-alive connections pooled per origin, every connection checked by the outbound guard on the
 * address it is made to. Redirects are not followed.
 */
export class GuardedHttp {
  private readonly agent: Agent;

  constructor(
    guard: OutboundGuard,
    private readonly timeoutMs: number,
  ) {
    const connect = buildConnector({ timeout: timeoutMs, lookup: guard.lookup });
    this.agent = new Agent({
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connect: (opts, callback) => {
        const refusal = isIP(opts.hostname) ? guard.refusal(opts.hostname, opts.hostname) : undefined;
        if (refusal !== undefined) return callback(new OutboundRefusedError(refusal), null);
        return connect(opts, callback);
      },
    });
  }

  async call(
    url: string,
    init: { method: string; headers: Record<string, string>; body: string | Buffer },
    signal: AbortSignal,
  ): Promise<HttpReply> {
    if (!/^https?:/i.test(url)) throw new HttpCallError("refused: only http and https URLs are called", true);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    const onAbort = () => controller.abort(new Error("interrupted: this instance is stopping"));
    signal.addEventListener("abort", onAbort);
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: init.method as "POST",
        headers: init.headers,
        body: init.body,
        signal: controller.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size < MAX_BODY) chunks.push(chunk);
        size += chunk.length;
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") };
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      throw new HttpCallError(reason instanceof Error ? reason.message : String(reason), reason instanceof OutboundRefusedError);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}
