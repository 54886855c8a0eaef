import { MIN_ADMIN_KEY, type AuthConfig } from "../core/auth/auth-config.js";
import { AuthConfigError } from "../core/auth/subscriber-tokens.js";

/** Refuses settings that cannot work (AuthConfigError: the entry point prints it and exits 2). */
export function checkAuthConfig(auth: AuthConfig): void {
  if (auth.adminKey !== undefined && auth.adminKey.length < MIN_ADMIN_KEY) {
    throw new AuthConfigError(`the admin key must be at least ${MIN_ADMIN_KEY} characters (try: openssl rand -base64 32)`);
  }
  const tokens = auth.jwtSecret ?? auth.jwtPublicKeyFile ?? auth.jwksUrl;
  if (tokens !== undefined && auth.adminKey === undefined) {
    throw new AuthConfigError("subscriber tokens need access control on: set the admin key (HERALD_ADMIN_KEY or --admin-key-file)");
  }
}
