import { once } from "node:events";
import { createPublicKey } from "node:crypto";
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { decodeProtectedHeader, jwtVerify } from "jose";

/** A push as the fake APNs received it. */
export interface ApnsPush {
  token: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What it answered (or will, once released, when held). */
  status: number;
  /** When it came in (ms since the epoch). */
  at: number;
}

/** An answer the fake gives: status, APNs reason, Retry-After (seconds). */
export interface ApnsAnswer {
  status: number;
  reason?: string;
  retryAfter?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * APNs on 127.0.0.1 (HTTP/2 without TLS): checks each request as APNs does (the provider token's
 * ES256 signature with the team's key, its `kid` and `iss`, the topic, push type, priority,
 * expiration and apns-id headers, the JSON body), records it, and answers 200 with the apns-id or
 * what a test asked for (`answer(token, …)`, once per request, in order). 403 for a bad token, 400
 * for a bad header.
 */
export class ApnsFake {
  readonly pushes: ApnsPush[] = [];
  /** Connections opened to it. */
  connections = 0;
  private readonly answers = new Map<string, ApnsAnswer[]>();
  /** Accepted apns-ids → the token: a repeat of an id is answered 200 and not delivered again. */
  readonly delivered = new Map<string, string>();
  /** Repeats of an apns-id already delivered (answered 200, not delivered twice). */
  repeats = 0;
  /** Once set: answer this many more requests, then hold the rest unanswered until `dropHeld()`. */
  private holdAfter: number | undefined;
  private held: Array<() => void> = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private readonly sessions = new Set<ServerHttp2Session>();

  private constructor(
    private readonly server: Http2Server,
    readonly url: string,
    private readonly keys: Map<string, { teamId: string; publicKey: string; topic: string }>,
  ) {}

  static async start(): Promise<ApnsFake> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const fake = new ApnsFake(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, new Map());
    server.on("session", (session) => {
      fake.connections++;
      fake.sessions.add(session);
      session.on("close", () => fake.sessions.delete(session));
    });
    server.on("stream", (stream, headers) => fake.onStream(stream, headers));
    return fake;
  }

  /** Trusts a signing key (its id, team and public key) for a topic. */
  trust(keyId: string, teamId: string, publicKey: string, topic: string): void {
    this.keys.set(keyId, { teamId, publicKey, topic });
  }

  /** The next answers to pushes to `token`, in order (then 200). */
  answer(token: string, ...answers: ApnsAnswer[]): void {
    this.answers.set(token, [...(this.answers.get(token) ?? []), ...answers]);
  }

  /** Resolves once `n` requests have come in (answered or not). */
  received(n: number): Promise<void> {
    if (this.pushes.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Answers `n` more requests, then holds every further one unanswered (an APNs gone quiet) until `dropHeld()`. */
  holdAfterNext(n: number): void {
    this.holdAfter = n;
  }

  /**
   * Stops holding; what was held is never answered (its connection died: APNs took none of it).
   * Not answered late either: the fake cannot tell whether a stream's client is gone yet.
   */
  dropHeld(): void {
    this.holdAfter = undefined;
    this.held.splice(0);
  }

  /** The accepted (200) pushes. */
  get accepted(): ApnsPush[] {
    return this.pushes.filter((p) => p.status === 200);
  }

  private async check(headers: IncomingHttpHeaders, body: string): Promise<ApnsAnswer | undefined> {
    const auth = headers["authorization"] ?? "";
    if (!auth.startsWith("bearer ")) return { status: 403, reason: "MissingProviderToken" };
    const jwt = auth.slice("bearer ".length);
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(jwt).kid;
    } catch {
      return { status: 403, reason: "InvalidProviderToken" };
    }
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (!key) return { status: 403, reason: "InvalidProviderToken" };
    try {
      const { payload, protectedHeader } = await jwtVerify(jwt, createPublicKey(key.publicKey), {
        algorithms: ["ES256"],
        issuer: key.teamId,
      });
      if (protectedHeader.alg !== "ES256" || typeof payload.iat !== "number") return { status: 403, reason: "InvalidProviderToken" };
      if (Date.now() / 1000 - payload.iat > 3600) return { status: 403, reason: "ExpiredProviderToken" };
    } catch {
      return { status: 403, reason: "InvalidProviderToken" };
    }
    if (headers["apns-topic"] !== key.topic) return { status: 400, reason: "TopicDisallowed" };
    if (headers["apns-push-type"] !== "alert") return { status: 400, reason: "InvalidPushType" };
    if (!["5", "10"].includes(String(headers["apns-priority"]))) return { status: 400, reason: "BadPriority" };
    if (!/^\d+$/.test(String(headers["apns-expiration"]))) return { status: 400, reason: "BadExpirationDate" };
    if (!UUID.test(String(headers["apns-id"]))) return { status: 400, reason: "BadMessageId" };
    if (String(headers["apns-collapse-id"] ?? "").length > 64) return { status: 400, reason: "BadCollapseId" };
    try {
      if (typeof (JSON.parse(body) as { aps?: unknown }).aps !== "object") return { status: 400, reason: "PayloadEmpty" };
    } catch {
      return { status: 400, reason: "PayloadEmpty" };
    }
    return undefined;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("end", async () => {
      const at = Date.now();
      const body = Buffer.concat(chunks).toString("utf8");
      const path = String(headers[":path"]);
      const token = path.startsWith("/3/device/") ? path.slice("/3/device/".length) : "";
      const answer =
        headers[":method"] !== "POST" || token === ""
          ? { status: 404, reason: "BadPath" }
          : ((await this.check(headers, body)) ?? this.answers.get(token)?.shift() ?? { status: 200 });
      this.pushes.push({ token, headers, body, status: answer.status, at });
      this.waiters = this.waiters.filter((w) => (this.pushes.length >= w.n ? (w.resolve(), false) : true));
      const respond = () => this.respond(stream, headers, token, answer);
      if (this.holdAfter !== undefined && this.holdAfter-- <= 0) {
        this.holdAfter = 0;
        this.held.push(respond);
        return;
      }
      respond();
    });
  }

  private respond(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, token: string, answer: ApnsAnswer): void {
    {
      if (stream.destroyed || stream.closed) return;
      if (answer.status === 200) {
        const id = String(headers["apns-id"]);
        if (this.delivered.has(id)) this.repeats++;
        else this.delivered.set(id, token);
      }
      const out: Record<string, string | number> = { ":status": answer.status, "apns-id": String(headers["apns-id"] ?? "") };
      if (answer.retryAfter !== undefined) out["retry-after"] = String(answer.retryAfter);
      if (answer.status === 200) {
        stream.respond(out, { endStream: true });
        return;
      }
      stream.respond({ ...out, "content-type": "application/json" });
      stream.end(
        JSON.stringify({ reason: answer.reason ?? "InternalServerError", ...(answer.status === 410 ? { timestamp: Date.now() } : {}) }),
      );
    }
  }

  async close(): Promise<void> {
    const closed = once(this.server, "close");
    this.server.close();
    // Sessions Herald keeps open would hold the server: end them.
    for (const s of this.sessions) s.destroy();
    await closed.catch(() => undefined);
  }
}
