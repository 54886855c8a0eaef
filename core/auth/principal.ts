import { Code, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../gen/herald/v1/registry_pb.js";
import { heraldError } from "../rpc/errors.js";

/**
 * Who is calling, as the authorization layer (with-authorization.ts) established it before the
 * handler runs. Handlers read it with `principalOf` where what a call may see depends on data only
 * they look up (the app of an event id, the owner of a log record).
 */
export type Principal =
  /** Access control is off (no admin key configured): everything is allowed, on loopback only. */
  | { kind: "open" }
  /** The facade of this process calling in-process, having checked its client's credential itself. */
  | { kind: "internal" }
  /** The admin key from the configuration (HERALD_ADMIN_KEY / --admin-key-file). */
  | { kind: "admin" }
  /** An API key; `apps` undefined: every app. */
  | { kind: "api-key"; id: string; roles: ReadonlySet<Role>; apps: ReadonlySet<string> | undefined }
  /** A subscriber token (JWT): one ksid of one app, watching only. */
  | { kind: "subscriber"; appId: string; ksid: string }
  /** An eventhos client presenting its access key (token or long-lived key). */
  | { kind: "client"; clientId: string; appId: string };

export const principalKey = createContextKey<Principal>({ kind: "open" }, { description: "the caller, as authenticated" });

export const principalOf = (ctx: HandlerContext): Principal => ctx.values.get(principalKey);

/** Principals that may do everything. */
export const isAll = (p: Principal): p is Extract<Principal, { kind: "open" | "internal" | "admin" }> =>
  p.kind === "open" || p.kind === "internal" || p.kind === "admin";

export const roleNames: Record<Role, string> = {
  [Role.UNSPECIFIED]: "unspecified",
  [Role.ADMIN]: "admin",
  [Role.PUBLISH]: "publish",
  [Role.WATCH]: "watch",
};

/** Whether `p` holds one of `roles` (admin holds them all). */
export function hasRole(p: Principal, roles: readonly Role[]): boolean {
  if (isAll(p)) return true;
  if (p.kind !== "api-key") return false;
  return p.roles.has(Role.ADMIN) || roles.some((r) => p.roles.has(r));
}

/** Whether `p` may touch `appId` at all (its roles aside). */
export function mayTouch(p: Principal, appId: string): boolean {
  switch (p.kind) {
    case "open":
    case "internal":
    case "admin":
      return true;
    case "api-key":
      return p.roles.has(Role.ADMIN) || p.apps === undefined || p.apps.has(appId);
    case "subscriber":
    case "client":
      return p.appId === appId;
  }
}

export const roleRequired = (roles: readonly Role[]) =>
  heraldError(
    Code.PermissionDenied,
    "ROLE_REQUIRED",
    `this call needs an API key with the ${[Role.ADMIN, ...roles.filter((r) => r !== Role.ADMIN)].map((r) => roleNames[r]).join(" or ")} role`,
  );

export const appNotAllowed = (appId: string) =>
  heraldError(Code.PermissionDenied, "APP_NOT_ALLOWED", `the credential may not touch app "${appId}"`, { app_id: appId });

/** Throws PERMISSION_DENIED (APP_NOT_ALLOWED) unless `p` may touch `appId`; for handlers that find the app themselves. */
export function requireApp(ctx: HandlerContext, appId: string): void {
  if (!mayTouch(principalOf(ctx), appId)) throw appNotAllowed(appId);
}
