import { createHash, createPrivateKey } from "node:crypto";
import { SignJWT } from "jose";
import { PushChannel, type FcmProvider } from "../gen/herald/v1/push_pb.js";
import { type GuardedHttp, HttpCallError } from "./guarded-http.js";
import { retryAfterMs, type PushNotification, type PushOutcome, type PushSender } from "./push-sender.js";

export interface FcmSenderOptions {
  /** API base: `{base}/v1/projects/{id}/messages:send`. */
  baseUrl: string;
  /** OAuth2 token endpoint (the JWT's audience). */
  tokenUrl: string;
}

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** An access token is used until this long before it expires. */
const TOKEN_MARGIN_MS = 5 * 60 * 1000;

interface FcmErrorBody {
  error?: { status?: string; message?: string; details?: Array<{ "@type"?: string; errorCode?: string }> };
}

/**
 * FCM HTTP v1: an OAuth2 access token got from the service account (a JWT grant signed RS256 with
 * jose, cached until shortly before it expires), then `projects/{id}/messages:send` with the
 * notification, Android, APNs and web overrides. The push's id goes in `data.herald_id`; FCM's
 * message name comes back as the provider id.
 */
export class FcmSender implements PushSender<FcmProvider> {
  readonly channel = PushChannel.FCM;
  private readonly tokens = new Map<string, { token: Promise<string>; expiresMs: number }>();

  constructor(
    private readonly options: FcmSenderOptions,
    private readonly http: GuardedHttp,
  ) {}

  private accessToken(p: FcmProvider, signal: AbortSignal, renew = false): Promise<string> {
    const id = createHash("sha256").update(p.clientEmail).update("\0").update(p.privateKey).digest("base64");
    const cached = this.tokens.get(id);
    if (cached && !renew && Date.now() < cached.expiresMs) return cached.token;
    const entry = { token: this.fetchToken(p, signal, (ms) => (entry.expiresMs = ms)), expiresMs: Number.POSITIVE_INFINITY };
    entry.token.catch(() => this.tokens.delete(id));
    this.tokens.set(id, entry);
    return entry.token;
  }

  private async fetchToken(p: FcmProvider, signal: AbortSignal, expires: (ms: number) => void): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(p.clientEmail)
      .setAudience(this.options.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(createPrivateKey(p.privateKey));
    const body = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString();
    const res = await this.http.call(
      this.options.tokenUrl,
      { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body },
      signal,
    );
    if (res.status !== 200) throw new TokenError(`the token endpoint answered ${res.status}: ${res.body.slice(0, 200)}`, res.status);
    const json = JSON.parse(res.body) as { access_token?: string; expires_in?: number };
    if (typeof json.access_token !== "string") throw new TokenError("the token endpoint gave no access_token", res.status);
    expires(Date.now() + (json.expires_in ?? 3600) * 1000 - TOKEN_MARGIN_MS);
    return json.access_token;
  }

  private message(n: PushNotification) {
    const ttl = Math.max(0, Math.floor((n.expiresAtMs - Date.now()) / 1000));
    return {
      message: {
        token: n.token,
        notification: { ...(n.title === "" ? {} : { title: n.title }), body: n.body },
        data: { ...n.data, herald_id: n.id },
        android: {
          priority: n.priority ? "HIGH" : "NORMAL",
          ttl: `${ttl}s`,
          ...(n.collapseId === "" ? {} : { collapse_key: n.collapseId }),
        },
        apns: {
          headers: {
            "apns-priority": n.priority ? "10" : "5",
            "apns-expiration": String(Math.floor(n.expiresAtMs / 1000)),
            ...(n.collapseId === "" ? {} : { "apns-collapse-id": n.collapseId }),
          },
        },
        webpush: {
          headers: { TTL: String(ttl), Urgency: n.priority ? "high" : "normal", ...(n.collapseId === "" ? {} : { Topic: n.collapseId }) },
        },
      },
    };
  }

  async send(p: FcmProvider, n: PushNotification, signal: AbortSignal): Promise<PushOutcome> {
    const url = `${this.options.baseUrl.replace(/\/$/, "")}/v1/projects/${encodeURIComponent(p.projectId)}/messages:send`;
    const body = JSON.stringify(this.message(n));
    let res;
    try {
      const token = await this.accessToken(p, signal);
      res = await this.http.call(
        url,
        { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json; charset=UTF-8" }, body },
        signal,
      );
    } catch (err) {
      if (err instanceof HttpCallError)
        return err.refused ? { kind: "failed", reason: err.message, unregistered: false } : { kind: "retry", reason: err.message };
      // The token endpoint refused the credentials: retrying will not change them.
      if (err instanceof TokenError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        return { kind: "failed", reason: err.message, status: err.status, unregistered: false };
      }
      return { kind: "retry", reason: err instanceof Error ? err.message : String(err) };
    }
    if (res.status === 200) {
      const name = (JSON.parse(res.body) as { name?: string }).name ?? "";
      return { kind: "delivered", providerId: name, status: 200 };
    }
    let parsed: FcmErrorBody = {};
    try {
      parsed = JSON.parse(res.body) as FcmErrorBody;
    } catch {
      // not JSON: the status says it
    }
    const code = parsed.error?.details?.find((d) => d.errorCode)?.errorCode ?? parsed.error?.status ?? `status ${res.status}`;
    const status = res.status;
    if (code === "UNREGISTERED" || (status === 404 && code === "NOT_FOUND"))
      return { kind: "failed", reason: "UNREGISTERED", status, unregistered: true };
    if (status === 401) {
      // The access token was refused (revoked, or expired early): a fresh one for the retry.
      void this.accessToken(p, signal, true).catch(() => undefined);
      return { kind: "retry", reason: code, status };
    }
    if (status === 429 || status >= 500) {
      const after = retryAfterMs(res.headers["retry-after"]);
      return { kind: "retry", reason: code, status, ...(after === undefined ? {} : { retryAfterMs: after }) };
    }
    return { kind: "failed", reason: code, status, unregistered: false };
  }

  async close(): Promise<void> {}
}

class TokenError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
