import { timingSafeEqual } from "node:crypto";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../gen/herald/v1/registry_pb.js";
import { heraldError } from "../rpc/errors.js";
import type { ApiKeyRecord, ApiKeyStore } from "../store/api-key-store.js";
import { looksLikeApiKey, parseApiKey, sameDigest, sha256 } from "./api-key-format.js";
import type { Principal } from "./principal.js";

/** Checks a subscriber token (JWT); throws UNAUTHENTICATED (CREDENTIAL_INVALID / CREDENTIAL_EXPIRED) when it does not hold. */
export interface SubscriberTokenVerifier {
  verify(token: string): Promise<{ appId: string; ksid: string }>;
}

/** The eventhos client an access key (long-lived key or token) stands for; undefined when it is none. */
export type ClientKeyCheck = (accessKey: string) => Promise<{ clientId: string; appId: string } | undefined>;

export interface AuthenticatorOptions {
  /** Access control is on when an admin key is configured; without one every call is allowed. */
  adminKey: string | undefined;
  apiKeys: ApiKeyStore;
  subscriberTokens?: SubscriberTokenVerifier | undefined;
  clientKeys?: ClientKeyCheck | undefined;
  now?: () => number;
}

export const credentialRequired = () =>
  heraldError(Code.Unauthenticated, "CREDENTIAL_REQUIRED", "a credential is required: authorization: Bearer <API key or token>");
export const credentialInvalid = (why: string) => heraldError(Code.Unauthenticated, "CREDENTIAL_INVALID", why);
export const credentialExpired = (what: string) => heraldError(Code.Unauthenticated, "CREDENTIAL_EXPIRED", `the ${what} has expired`);

const OPEN: Principal = Object.freeze({ kind: "open" });
const INTERNAL: Principal = Object.freeze({ kind: "internal" });

/** Longest credential read: tokens are a few hundred bytes; anything longer is not one. */
export const MAX_CREDENTIAL = 8192;
const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Establishes who calls. One instance serves every transport: the authorization layer asks it for
 * the principal of each call (`principal`), AuthorizeLegacy for a credential a legacy client sent
 * (`ofCredential`). Checking an API key costs one near-cache read and one SHA-256, never a slow
 * hash or a Redis round trip.
 */
export class Authenticator {
  /** The principal of each record, built once per record (the store hands out the same frozen record until it changes). */
  private readonly principals = new WeakMap<ApiKeyRecord, Principal>();
  /** The secret that last passed each record's hash. */
  private readonly verified = new WeakMap<ApiKeyRecord, Buffer>();
  /**
   * `authorization` headers whose API key passed its hash, with the record it passed against: the
   * next call with the same header skips parsing and comparing (a client sends the same header on
   * every call). Valid only while the store still hands out that very record (a revocation or
   * change makes a new one); bounded, emptied when full.
   */
  private readonly verifiedHeaders = new Map<string, ApiKeyRecord>();
  private readonly now: () => number;

  private readonly adminDigest: string | undefined;
  private readonly adminLooksLikeApiKey: boolean;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
    this.adminDigest = options.adminKey === undefined ? undefined : sha256(options.adminKey);
    this.adminLooksLikeApiKey = options.adminKey !== undefined && parseApiKey(options.adminKey) !== undefined;
  }

  /** Whether access control is on. */
  get enabled(): boolean {
    return this.options.adminKey !== undefined;
  }

  /**
   * The caller of a call: the `authorization: Bearer` credential if the call carries one; else the
   * facade of this process when the call is in-process (no network transport can claim that: the
   * protocol name is set by the transport); else UNAUTHENTICATED (CREDENTIAL_REQUIRED).
   */
  async principal(ctx: HandlerContext): Promise<Principal> {
    if (!this.enabled) return OPEN;
    const header = authorizationOf(ctx);
    if (header === null || header === "") {
      if (ctx.protocolName === "in-process") return INTERNAL;
      throw credentialRequired();
    }
    return this.ofCredential(bearer(header));
  }

  /**
   * The caller of a call when it can be told at once: access control off, the in-process facade,
   * or an API key whose record this instance holds and whose secret already passed its hash (the
   * common case, with no promise to wait on). Undefined: ask `principal`, which also says why not.
   */
  principalNow(ctx: HandlerContext): Principal | undefined {
    if (!this.enabled) return OPEN;
    const header = authorizationOf(ctx);
    if (header === null || header === "") return ctx.protocolName === "in-process" ? INTERNAL : undefined;
    const seen = this.verifiedHeaders.get(header);
    if (seen !== undefined && this.options.apiKeys.peek(seen.id) === seen) return this.unexpired(seen);
    const credential = BEARER.exec(header)?.[1];
    const parsed = credential === undefined || this.adminLooksLikeApiKey ? undefined : parseApiKey(credential);
    const record = parsed && this.options.apiKeys.peek(parsed.id);
    if (!parsed || !record || !this.verifies(record, parsed.secret)) return undefined;
    if (this.verifiedHeaders.size >= MAX_VERIFIED_HEADERS) this.verifiedHeaders.clear();
    this.verifiedHeaders.set(header, record);
    return this.unexpired(record);
  }

  /** The record's principal unless it expired (undefined: `principal` says so). */
  private unexpired(record: ApiKeyRecord): Principal | undefined {
    if (record.expiresMs !== 0 && record.expiresMs <= this.now()) return undefined;
    return this.principalOf(record);
  }

  /** The principal a credential stands for; UNAUTHENTICATED when it stands for none. */
  async ofCredential(credential: string): Promise<Principal> {
    if (!this.enabled) return OPEN;
    if (credential === "") throw credentialRequired();
    if (credential.length > MAX_CREDENTIAL) throw credentialInvalid("the credential is too long");
    const { clientKeys, subscriberTokens } = this.options;
    // A well-formed API key skips the admin comparison (a second SHA-256), unless the admin key itself has that form.
    const parsed = parseApiKey(credential);
    if (parsed && !this.adminLooksLikeApiKey) return this.apiKey(parsed);
    if (this.adminDigest !== undefined && sameDigest(sha256(credential), this.adminDigest)) return { kind: "admin" };
    if (parsed) return this.apiKey(parsed);
    if (looksLikeApiKey(credential)) throw credentialInvalid("malformed API key");
    if (clientKeys) {
      const client = await clientKeys(credential);
      if (client) return { kind: "client", ...client };
    }
    if (subscriberTokens && credential.split(".").length === 3) {
      const { appId, ksid } = await subscriberTokens.verify(credential);
      return { kind: "subscriber", appId, ksid };
    }
    throw credentialInvalid("unknown credential");
  }

  /**
   * Whether `secret` is the key's: the SHA-256 comparison once per record, then a constant-time
   * comparison with the secret that passed it (the store hands out the same record until it
   * changes, so a revocation or a new record checks the hash again).
   */
  private verifies(record: ApiKeyRecord, secret: string): boolean {
    const given = Buffer.from(secret);
    const known = this.verified.get(record);
    if (known !== undefined && given.length === known.length && timingSafeEqual(given, known)) return true;
    if (!sameDigest(sha256(secret), record.hash)) return false;
    this.verified.set(record, given);
    return true;
  }

  private async apiKey(parsed: { id: string; secret: string }): Promise<Principal> {
    const record = await this.options.apiKeys.get(parsed.id);
    // Unknown and revoked keys look the same.
    if (!record || !this.verifies(record, parsed.secret)) throw credentialInvalid("unknown or revoked API key");
    if (record.expiresMs !== 0 && record.expiresMs <= this.now()) throw credentialExpired("API key");
    return this.principalOf(record);
  }

  private principalOf(record: ApiKeyRecord): Principal {
    let p = this.principals.get(record);
    if (!p) {
      const all = record.appIds.includes("*") || record.roles.includes(Role.ADMIN);
      p = { kind: "api-key", id: record.id, roles: new Set(record.roles), apps: all ? undefined : new Set(record.appIds) };
      this.principals.set(record, p);
    }
    return p;
  }
}

/** Distinct verified `authorization` headers remembered (about 100 bytes each). */
const MAX_VERIFIED_HEADERS = 4096;

/** A context that reads the `authorization` header alone, cheaply (the transports' LazyHandlerContext). */
interface AuthorizationSource {
  authorizationHeader(): string | null;
}

/** The `authorization` header of a call, without building all its headers where the context allows. */
function authorizationOf(ctx: HandlerContext): string | null {
  const fast = (ctx as Partial<AuthorizationSource>).authorizationHeader;
  return typeof fast === "function" ? fast.call(ctx) : ctx.requestHeader.get("authorization");
}

/** The credential of an `authorization` header: `Bearer <credential>` (any case), else CREDENTIAL_INVALID. */
export function bearer(header: string): string {
  const m = BEARER.exec(header);
  if (!m) throw credentialInvalid("malformed authorization header: expected Bearer <credential>");
  return m[1] as string;
}
