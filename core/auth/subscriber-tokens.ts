import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { heraldError } from "../rpc/errors.js";
import type { AuthConfig } from "./auth-config.js";
import { credentialExpired, credentialInvalid, type SubscriberTokenVerifier } from "./authenticator.js";

/** A subscriber token setting that cannot work: the start is refused with this message. */
export class AuthConfigError extends Error {
  override readonly name = "AuthConfigError";
}

/** The claim that names the token's app; `sub` is its ksid. */
export const APP_CLAIM = "app";

/**
 * Subscriber tokens (JWTs, verified with jose): an HS256 secret, an RS256/ES256 public key from a
 * PEM file, or the keys of a JWKS URL (fetched when a token names an unknown `kid`, cached by
 * jose). A token must carry `sub` (the ksid), `app` and `exp`; `iss` and `aud` when configured.
 * Undefined when none is configured.
 */
export async function subscriberTokenVerifier(config: AuthConfig): Promise<SubscriberTokenVerifier | undefined> {
  const sources = [config.jwtSecret, config.jwtPublicKeyFile, config.jwksUrl].filter((s) => s !== undefined);
  if (sources.length === 0) return undefined;
  if (sources.length > 1) throw new AuthConfigError("subscriber tokens: give one of --jwt-secret-file, --jwt-public-key-file, --jwks-url");
  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  if (config.jwtSecret !== undefined) {
    if (Buffer.byteLength(config.jwtSecret) < 32)
      throw new AuthConfigError("subscriber tokens: the HS256 secret must be at least 32 bytes");
    key = new TextEncoder().encode(config.jwtSecret);
    algorithms = ["HS256"];
  } else if (config.jwtPublicKeyFile !== undefined) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(readFileSync(config.jwtPublicKeyFile));
    } catch (err) {
      throw new AuthConfigError(`--jwt-public-key-file ${config.jwtPublicKeyFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const type = publicKey.asymmetricKeyType;
    if (type !== "rsa" && type !== "ec") throw new AuthConfigError(`--jwt-public-key-file: an RSA or EC public key is needed, got ${type}`);
    // Keys jose cannot use for RS256/ES256 would fail every token at the first call (INTERNAL), not here.
    const details = publicKey.asymmetricKeyDetails;
    if (type === "ec" && details?.namedCurve !== "prime256v1") {
      throw new AuthConfigError(`--jwt-public-key-file: ES256 needs a P-256 (prime256v1) key, got ${details?.namedCurve}`);
    }
    if (type === "rsa" && (details?.modulusLength ?? 0) < 2048) {
      throw new AuthConfigError(`--jwt-public-key-file: RS256 needs an RSA key of 2048 bits or more, got ${details?.modulusLength}`);
    }
    key = publicKey;
    algorithms = type === "rsa" ? ["RS256"] : ["ES256"];
  } else {
    let url: URL;
    try {
      url = new URL(config.jwksUrl as string);
    } catch {
      throw new AuthConfigError(`--jwks-url ${config.jwksUrl} is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new AuthConfigError("--jwks-url must be http(s)");
    key = keysOrUnavailable(createRemoteJWKSet(url, { timeoutDuration: 5_000, cooldownDuration: 30_000 }));
    algorithms = ["RS256", "ES256"];
  }
  const options = {
    algorithms,
    requiredClaims: ["exp", "sub", APP_CLAIM],
    ...(config.jwtIssuer !== undefined ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience !== undefined ? { audience: config.jwtAudience } : {}),
  };
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key as never, options);
        const appId = payload[APP_CLAIM];
        if (typeof appId !== "string" || appId === "" || typeof payload.sub !== "string" || payload.sub === "") {
          throw credentialInvalid(`subscriber token: "sub" and "${APP_CLAIM}" must be non-empty strings`);
        }
        return { appId, ksid: payload.sub };
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw credentialExpired("subscriber token");
        if (err instanceof errors.JOSEError) throw credentialInvalid(`invalid subscriber token (${err.code})`);
        throw err;
      }
    },
  };
}

/**
 * The JWKS's keys, or UNAVAILABLE when they cannot be fetched (no answer, a timeout, not 200, not
 * JSON): the token may well be valid, and the caller should retry, not be told it is not. An
 * unknown `kid` stays a JWKSNoMatchingKey (CREDENTIAL_INVALID).
 */
function keysOrUnavailable(remote: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // fetch rejects with a TypeError when the host cannot be reached; jose's own fetch and parse failures are plain JOSEErrors.
      const unreachable =
        err instanceof TypeError ||
        err instanceof errors.JWKSTimeout ||
        (err instanceof errors.JOSEError && err.code === "ERR_JOSE_GENERIC");
      if (unreachable)
        throw heraldError(Code.Unavailable, "UNAVAILABLE", "the keys of subscriber tokens (--jwks-url) cannot be fetched now, try again");
      throw err;
    }
  };
}
