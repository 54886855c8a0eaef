import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import { isIP } from "node:net";
import { setMaxListeners } from "node:events";
import { type OutboundGuard, OutboundRefusedError } from "../eventhos/outbound-guard.js";

/** What one HTTP/2 request came back with. */
export interface H2Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Why a request got no response. */
export class H2RequestError extends Error {
  constructor(
    message: string,
    /** Refused by the outbound guard: retrying cannot help. */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;
/** Signals already freed of the listener limit. */
const unlimited = new WeakSet<AbortSignal>();

/**
 * A few HTTP/2 connections to one origin, reused for every request and spread round robin (APNs
 * asks providers to keep connections open rather than open one per push). A connection that closes
 * or goes away is replaced at the next request. An `http:` origin speaks HTTP/2 without TLS (local
 * fakes). The outbound guard checks the address each connection is made to.
 */
export class H2Pool {
  private readonly sessions: Array<ClientHttp2Session | undefined>;
  private next = 0;
  private closed = false;

  constructor(
    private readonly origin: string,
    size: number,
    private readonly guard: OutboundGuard,
  ) {
    this.sessions = new Array(Math.max(1, size)).fill(undefined);
  }

  private session(): ClientHttp2Session {
    const i = this.next++ % this.sessions.length;
    const existing = this.sessions[i];
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const url = new URL(this.origin);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const refusal = isIP(host) ? this.guard.refusal(host, host) : undefined;
    if (refusal !== undefined) throw new H2RequestError(refusal, true);
    const session = connect(this.origin, { lookup: this.guard.lookup });
    session.on("error", () => undefined); // each request sees it
    const drop = () => {
      if (this.sessions[i] === session) this.sessions[i] = undefined;
    };
    session.on("close", drop);
    session.on("goaway", drop);
    // Idle connections must not keep the process alive.
    session.unref();
    this.sessions[i] = session;
    return session;
  }

  /** One request; rejects with H2RequestError when no response came (connection, timeout, abort). */
  request(headers: OutgoingHttpHeaders, body: string | Buffer, timeoutMs: number, signal: AbortSignal): Promise<H2Response> {
    if (this.closed) return Promise.reject(new H2RequestError("interrupted: closing", false));
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.session();
      } catch (err) {
        return reject(err);
      }
      if (signal.aborted) return reject(new H2RequestError("interrupted: this instance is stopping", false));
      const req = session.request(headers);
      // Many requests share one signal: listeners come and go with each request.
      if (!unlimited.has(signal)) {
        setMaxListeners(0, signal);
        unlimited.add(signal);
      }
      const onAbort = () => {
        req.close(constants.NGHTTP2_CANCEL);
        fail(new H2RequestError("interrupted: this instance is stopping", false));
      };
      signal.addEventListener("abort", onAbort);
      // The session is unref'd; this timer keeps the process up while the request is out.
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        req.close(constants.NGHTTP2_CANCEL);
        fail(new H2RequestError(`timed out after ${timeoutMs} ms`, false));
      }, timeoutMs);
      let settled = false;
      const fail = (err: H2RequestError) => {
        if (settled) return;
        settled = true;
        done();
        reject(err);
      };
      req.on("error", (err: Error) => {
        const refused = err instanceof OutboundRefusedError || (err as { cause?: unknown }).cause instanceof OutboundRefusedError;
        fail(new H2RequestError(signal.aborted ? "interrupted: this instance is stopping" : err.message, refused));
      });
      let status = 0;
      let responseHeaders: H2Response["headers"] = {};
      req.on("response", (h) => {
        status = Number(h[":status"]);
        responseHeaders = h;
      });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        if (size < MAX_BODY) chunks.push(c);
        size += c.length;
      });
      req.on("end", () => {
        if (settled) return;
        settled = true;
        done();
        if (status === 0) return reject(new H2RequestError("the stream ended without a response", false));
        resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString("utf8") });
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s || s.closed) return resolve();
            s.close(() => resolve());
            // Streams still open are cut: their requests end as errors.
            setTimeout(() => s.destroy(), 1000).unref();
          }),
      ),
    );
  }
}
