import { once } from "node:events";
import { createPublicKey, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { jwtVerify } from "jose";

/** A message as the fake FCM received it. */
export interface FcmMessage {
  projectId: string;
  /** The request body as sent. */
  body: string;
  message: {
    token: string;
    notification?: { title?: string; body?: string };
    data?: Record<string, string>;
    android?: { priority?: string; ttl?: string; collapse_key?: string };
    apns?: { headers?: Record<string, string> };
    webpush?: { headers?: Record<string, string> };
  };
  status: number;
  /** The name it answered with (200 only). */
  name: string;
}

export interface FcmAnswer {
  status: number;
  /** FcmError errorCode (UNREGISTERED, QUOTA_EXCEEDED, …). */
  errorCode?: string;
  retryAfter?: number;
}

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

/**
 * FCM HTTP v1 and Google's OAuth2 token endpoint on 127.0.0.1: `/token` checks the service
 * account's JWT grant (RS256 signature with the account's public key, iss, aud, scope, expiry) and
 * issues access tokens; `/v1/projects/{id}/messages:send` checks the bearer token and the message,
 * records it, and answers with a message name, or what a test asked for (`answer(token, …)`).
 */
export class FcmFake {
  readonly messages: FcmMessage[] = [];
  /** Access tokens issued. */
  readonly issued: string[] = [];
  private readonly valid = new Map<string, string>();
  private readonly answers = new Map<string, FcmAnswer[]>();
  private readonly accounts = new Map<string, { publicKey: string; projectId: string }>();
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  static async start(): Promise<FcmFake> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const fake = new FcmFake(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on("request", (req, res) => void fake.onRequest(req, res));
    return fake;
  }

  trust(clientEmail: string, publicKey: string, projectId: string): void {
    this.accounts.set(clientEmail, { publicKey, projectId });
  }

  answer(token: string, ...answers: FcmAnswer[]): void {
    this.answers.set(token, [...(this.answers.get(token) ?? []), ...answers]);
  }

  /** Makes every access token issued so far invalid (as if revoked). */
  revokeTokens(): void {
    this.valid.clear();
  }

  received(n: number): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  get accepted(): FcmMessage[] {
    return this.messages.filter((m) => m.status === 200);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const reply = (status: number, json: object, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
      res.end(JSON.stringify(json));
    };
    if (req.method === "POST" && req.url === "/token") {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return reply(400, { error: "unsupported_grant_type" });
      const assertion = form.get("assertion") ?? "";
      try {
        const [, claims] = assertion.split(".");
        const iss = (JSON.parse(Buffer.from(claims ?? "", "base64url").toString()) as { iss?: string }).iss ?? "";
        const account = this.accounts.get(iss);
        if (!account) return reply(400, { error: "invalid_grant", error_description: "Invalid grant: account not found" });
        const { payload } = await jwtVerify(assertion, createPublicKey(account.publicKey), {
          algorithms: ["RS256"],
          audience: this.tokenUrl,
        });
        if (payload["scope"] !== "https://www.googleapis.com/auth/firebase.messaging") return reply(400, { error: "invalid_scope" });
        if (typeof payload.exp !== "number" || payload.exp - (payload.iat ?? 0) > 3600) return reply(400, { error: "invalid_grant" });
        const token = `ya29.${randomBytes(16).toString("base64url")}`;
        this.valid.set(token, account.projectId);
        this.issued.push(token);
        return reply(200, { access_token: token, expires_in: 3599, token_type: "Bearer" });
      } catch {
        return reply(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
      }
    }
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url ?? "");
    if (req.method !== "POST" || !m) return reply(404, { error: { code: 404, status: "NOT_FOUND", message: "no such method" } });
    const projectId = decodeURIComponent(m[1]!);
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    let answer: FcmAnswer | undefined;
    let message: FcmMessage["message"] = { token: "" };
    if (this.valid.get(bearer) !== projectId) answer = { status: 401 };
    else {
      try {
        message = (JSON.parse(body) as { message: FcmMessage["message"] }).message;
        if (typeof message.token !== "string" || message.token === "") answer = { status: 400 };
        for (const v of Object.values(message.data ?? {})) if (typeof v !== "string") answer = { status: 400 };
      } catch {
        answer = { status: 400 };
      }
      answer ??= this.answers.get(message.token)?.shift() ?? { status: 200 };
    }
    const name = answer.status === 200 ? `projects/${projectId}/messages/0:${++this.seq}` : "";
    this.messages.push({ projectId, body, message, status: answer.status, name });
    this.waiters = this.waiters.filter((w) => (this.messages.length >= w.n ? (w.resolve(), false) : true));
    if (answer.status === 200) return reply(200, { name });
    const status = STATUS[answer.status] ?? "INTERNAL";
    const details = answer.errorCode
      ? [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: answer.errorCode }]
      : [];
    reply(
      answer.status,
      { error: { code: answer.status, message: status, status, details } },
      answer.retryAfter === undefined ? {} : { "retry-after": String(answer.retryAfter) },
    );
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}
