import { createPrivateKey, createHash } from "node:crypto";
import { SignJWT } from "jose";
import { PushChannel, type ApnsProvider } from "../gen/herald/v1/push_pb.js";
import type { OutboundGuard } from "../eventhos/outbound-guard.js";
import { H2Pool, H2RequestError } from "./h2-pool.js";
import { retryAfterMs, type PushNotification, type PushOutcome, type PushSender } from "./push-sender.js";

export interface ApnsSenderOptions {
  productionUrl: string;
  sandboxUrl: string;
  /** HTTP/2 connections per endpoint. */
  connections: number;
  timeoutMs: number;
  /** The time now (ms); tests move it. */
  clock?: () => number;
}

/** APNs wants a provider token younger than an hour and refuses one renewed more than every 20 min: renewed at 50. */
const TOKEN_RENEW_MS = 50 * 60 * 1000;
/** APNs' largest payload for alert notifications. */
const MAX_PAYLOAD = 4096;
const DEVICE_TOKEN = /^[0-9a-fA-F]{16,200}$/;

/**
 * APNs over HTTP/2 with token-based auth: an ES256 JWT per team and key, renewed before it ages out,
 * connections per endpoint reused by every push. Headers: apns-id (the push's id), apns-topic,
 * apns-push-type alert, apns-priority 10 or 5, apns-expiration, apns-collapse-id.
 */
export class ApnsSender implements PushSender<ApnsProvider> {
  readonly channel = PushChannel.APNS;
  private readonly pools = new Map<string, H2Pool>();
  private readonly tokens = new Map<string, { jwt: Promise<string>; madeMs: number }>();
  private readonly ids = new WeakMap<ApnsProvider, string>();

  constructor(
    private readonly options: ApnsSenderOptions,
    private readonly guard: OutboundGuard,
  ) {}

  private pool(sandbox: boolean): H2Pool {
    const origin = sandbox ? this.options.sandboxUrl : this.options.productionUrl;
    let pool = this.pools.get(origin);
    if (!pool) this.pools.set(origin, (pool = new H2Pool(origin, this.options.connections, this.guard)));
    return pool;
  }

  /** The provider token for these credentials, made at most every TOKEN_RENEW_MS. */
  private token(p: ApnsProvider, renew = false): Promise<string> {
    // The credential's id, once per provider object (a job's pushes share one): hashing the key per push cost a tenth of a send.
    let id = this.ids.get(p);
    if (id === undefined) {
      id = createHash("sha256").update(p.teamId).update("\0").update(p.keyId).update("\0").update(p.privateKey).digest("base64");
      this.ids.set(p, id);
    }
    const now = (this.options.clock ?? Date.now)();
    const cached = this.tokens.get(id);
    if (cached && !renew && now - cached.madeMs < TOKEN_RENEW_MS) return cached.jwt;
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: p.keyId })
      .setIssuer(p.teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(createPrivateKey(p.privateKey));
    jwt.catch(() => this.tokens.delete(id));
    this.tokens.set(id, { jwt, madeMs: now });
    return jwt;
  }

  async send(p: ApnsProvider, n: PushNotification, signal: AbortSignal): Promise<PushOutcome> {
    if (!DEVICE_TOKEN.test(n.token)) return { kind: "failed", reason: "BadDeviceToken", unregistered: false };
    const body = JSON.stringify({ aps: { alert: n.title === "" ? n.body : { title: n.title, body: n.body } }, ...n.data });
    if (Buffer.byteLength(body) > MAX_PAYLOAD) return { kind: "failed", reason: "PayloadTooLarge", unregistered: false };
    let jwt: string;
    try {
      jwt = await this.token(p);
    } catch (err) {
      return {
        kind: "failed",
        reason: `cannot sign the provider token: ${err instanceof Error ? err.message : String(err)}`,
        unregistered: false,
      };
    }
    const headers: Record<string, string> = {
      ":method": "POST",
      ":path": `/3/device/${n.token}`,
      authorization: `bearer ${jwt}`,
      "apns-id": n.id,
      "apns-topic": p.topic,
      "apns-push-type": "alert",
      "apns-priority": n.priority ? "10" : "5",
      "apns-expiration": String(Math.floor(n.expiresAtMs / 1000)),
      "content-type": "application/json",
    };
    if (n.collapseId !== "") headers["apns-collapse-id"] = n.collapseId;
    let res;
    try {
      res = await this.pool(p.sandbox).request(headers, body, this.options.timeoutMs, signal);
    } catch (err) {
      const e = err instanceof H2RequestError ? err : new H2RequestError(String(err), false);
      return e.refused ? { kind: "failed", reason: e.message, unregistered: false } : { kind: "retry", reason: e.message };
    }
    if (res.status === 200) {
      const apnsId = res.headers["apns-id"];
      return { kind: "delivered", providerId: typeof apnsId === "string" ? apnsId : n.id, status: 200 };
    }
    let reason = `status ${res.status}`;
    try {
      reason = (JSON.parse(res.body) as { reason?: string }).reason ?? reason;
    } catch {
      // not JSON: the status says it
    }
    const status = res.status;
    // BadDeviceToken may be a sandbox token sent to production: a failure, not a reason to drop the subscription.
    if (status === 410) return { kind: "failed", reason, status, unregistered: true };
    // An expired or refused provider token: made afresh for the retry.
    if (status === 403 && (reason === "ExpiredProviderToken" || reason === "InvalidProviderToken")) {
      void this.token(p, true).catch(() => undefined);
      return reason === "ExpiredProviderToken"
        ? { kind: "retry", reason, status }
        : { kind: "failed", reason, status, unregistered: false };
    }
    if (status === 429 || status >= 500) {
      const after = retryAfterMs(res.headers["retry-after"]);
      return { kind: "retry", reason, status, ...(after === undefined ? {} : { retryAfterMs: after }) };
    }
    return { kind: "failed", reason, status, unregistered: false };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}
