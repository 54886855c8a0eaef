import { once } from "node:events";
import { createECDH, createPublicKey, randomBytes, type ECDH } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import ece from "http_ece";
import { jwtVerify } from "jose";

/** A push as the receiver got it, decrypted with its subscription's keys. */
export interface WebPushDelivery {
  subscription: string;
  headers: IncomingHttpHeaders;
  /** The plaintext, or undefined when it could not be decrypted. */
  payload: string | undefined;
  status: number;
}

export interface WebPushAnswer {
  status: number;
  retryAfter?: number;
}

/**
 * A push service and its browsers on 127.0.0.1: `subscribe()` makes a subscription (a P-256 key pair
 * and auth secret, as a browser does) whose endpoint is here; a POST to it is checked as a push
 * service does (VAPID `Authorization: vapid t=…, k=…` signed by k, audience this origin, TTL
 * present, aes128gcm), decrypted with the subscription's private key and recorded; 201 with a
 * Location, or what a test asked for.
 */
export class WebPushReceiver {
  readonly deliveries: WebPushDelivery[] = [];
  private readonly subscriptions = new Map<string, { ecdh: ECDH; auth: string }>();
  private readonly answers = new Map<string, WebPushAnswer[]>();
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** The VAPID public key pushes must be signed with. */
    private readonly vapidPublicKey: string,
  ) {}

  static async start(vapidPublicKey: string): Promise<WebPushReceiver> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const r = new WebPushReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, vapidPublicKey);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const { status, headers } = await r.receive(req.url ?? "", req.method ?? "", req.headers, Buffer.concat(chunks));
        res.writeHead(status, headers);
        res.end();
      });
    });
    return r;
  }

  /** A new subscription: its id and the PushSubscription JSON a browser would give the app. */
  subscribe(): { id: string; json: string } {
    const id = randomBytes(8).toString("hex");
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const auth = randomBytes(16).toString("base64url");
    this.subscriptions.set(id, { ecdh, auth });
    const json = JSON.stringify({ endpoint: `${this.url}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth } });
    return { id, json };
  }

  answer(id: string, ...answers: WebPushAnswer[]): void {
    this.answers.set(id, [...(this.answers.get(id) ?? []), ...answers]);
  }

  received(n: number): Promise<void> {
    if (this.deliveries.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  get accepted(): WebPushDelivery[] {
    return this.deliveries.filter((d) => d.status === 201);
  }

  private async vapidOk(headers: IncomingHttpHeaders): Promise<boolean> {
    const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(headers.authorization ?? "");
    if (!m || m[2] !== this.vapidPublicKey) return false;
    const point = Buffer.from(m[2], "base64url");
    const key = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33).toString("base64url") },
      format: "jwk",
    });
    try {
      const { payload } = await jwtVerify(m[1]!, key, { algorithms: ["ES256"], audience: this.url });
      return typeof payload.sub === "string" && typeof payload.exp === "number" && payload.exp - Date.now() / 1000 <= 24 * 3600;
    } catch {
      return false;
    }
  }

  private async receive(url: string, method: string, headers: IncomingHttpHeaders, body: Buffer) {
    const id = url.startsWith("/push/") ? url.slice("/push/".length) : "";
    const sub = this.subscriptions.get(id);
    let status: number;
    let payload: string | undefined;
    if (method !== "POST" || !sub) status = 404;
    else if (!(await this.vapidOk(headers))) status = 403;
    else if (headers["ttl"] === undefined || headers["content-encoding"] !== "aes128gcm") status = 400;
    else {
      try {
        payload = ece.decrypt(body, { version: "aes128gcm", privateKey: sub.ecdh, authSecret: sub.auth }).toString("utf8");
        const answer = this.answers.get(id)?.shift();
        status = answer?.status ?? 201;
        if (answer?.retryAfter !== undefined) {
          this.record(id, headers, payload, status);
          return { status, headers: { "retry-after": String(answer.retryAfter) } };
        }
      } catch {
        status = 400;
      }
    }
    this.record(id, headers, payload, status);
    return { status, headers: status === 201 ? { location: `${this.url}/message/${++this.seq}` } : {} };
  }

  private record(subscription: string, headers: IncomingHttpHeaders, payload: string | undefined, status: number): void {
    this.deliveries.push({ subscription, headers, payload, status });
    this.waiters = this.waiters.filter((w) => (this.deliveries.length >= w.n ? (w.resolve(), false) : true));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}
