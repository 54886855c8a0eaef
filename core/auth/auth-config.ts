/** The `auth` section: access control. */
export interface AuthConfig {
  /**
   * The admin credential; setting it turns access control on for every surface. Read from
   * HERALD_ADMIN_KEY or a file (--admin-key-file), never from argv. At least 16 characters.
   */
  adminKey: string | undefined;
  /** Server reflection: "keyed" (any valid credential) or "open" (anyone). Only with access control on. */
  reflection: "keyed" | "open";
  /** Subscriber tokens: HS256 secret (HERALD_JWT_SECRET or --jwt-secret-file). */
  jwtSecret: string | undefined;
  /** Subscriber tokens: PEM file of the public key (RS256 or ES256). */
  jwtPublicKeyFile: string | undefined;
  /** Subscriber tokens: URL of a JWKS (RS256 or ES256 keys), fetched and cached by jose. */
  jwksUrl: string | undefined;
  /** Subscriber tokens must carry this `iss` when set. */
  jwtIssuer: string | undefined;
  /** Subscriber tokens must carry this `aud` when set. */
  jwtAudience: string | undefined;
  /** --core-url mode: the API key the facade presents to the core (HERALD_CORE_KEY or --core-key-file). */
  coreKey: string | undefined;
}

export const defaultAuthConfig: AuthConfig = {
  adminKey: undefined,
  reflection: "keyed",
  jwtSecret: undefined,
  jwtPublicKeyFile: undefined,
  jwksUrl: undefined,
  jwtIssuer: undefined,
  jwtAudience: undefined,
  coreKey: undefined,
};

/** Shortest admin key accepted: a guessable one would be worse than none, as it opens the non-loopback bind. */
export const MIN_ADMIN_KEY = 16;
