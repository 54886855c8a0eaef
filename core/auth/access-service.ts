import { Code, type ServiceImpl } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Role, type ApiKey, type RegistryService } from "../gen/herald/v1/registry_pb.js";
import { heraldError, invalidArgument, notFound } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";
import type { ApiKeyRecord, ApiKeyStore } from "../store/api-key-store.js";
import type { RegistryStore } from "../store/registry-store.js";
import { newApiKey, sameDigest, sha256 } from "./api-key-format.js";
import { credentialInvalid, credentialRequired, MAX_CREDENTIAL, type Authenticator } from "./authenticator.js";
import { inNetworks } from "./legacy-access.js";
import { appNotAllowed, hasRole, mayTouch, roleRequired } from "./principal.js";

export interface AccessDeps {
  apiKeys: ApiKeyStore;
  registry: RegistryStore;
  auth: Authenticator;
  validator: Validator;
  now?: () => number;
}

type AccessMethods = Pick<ServiceImpl<typeof RegistryService>, "createApiKey" | "listApiKeys" | "revokeApiKey" | "authorizeLegacy">;

const ROLES = new Set([Role.ADMIN, Role.PUBLISH, Role.WATCH]);
/** Most apps one key may name. */
const MAX_KEY_APPS = 256;

/** API key management and the legacy routes' credential check (RegistryService). */
export function createAccessService(deps: AccessDeps): AccessMethods {
  const { apiKeys, registry, auth, validator: v } = deps;
  const now = deps.now ?? Date.now;

  return {
    async createApiKey(req) {
      v.short("name", req.name);
      if (req.roles.length === 0) throw invalidArgument("roles: at least one of ROLE_ADMIN, ROLE_PUBLISH, ROLE_WATCH is required");
      for (const r of req.roles) if (!ROLES.has(r)) throw invalidArgument(`roles: ${r} is not a role`);
      const admin = req.roles.includes(Role.ADMIN);
      const apps = [...new Set(req.appIds)];
      if (apps.length > MAX_KEY_APPS) throw invalidArgument(`app_ids: at most ${MAX_KEY_APPS}`);
      for (const a of apps) if (a !== "*") v.id("app_ids", a);
      if (admin && apps.some((a) => a !== "*")) throw invalidArgument('app_ids: an admin key touches every app (give none or "*")');
      if (!admin && apps.length === 0) throw invalidArgument('app_ids: at least one app id, or "*" for every app');
      if (req.ttlSeconds > 10n * 365n * 24n * 3600n) throw invalidArgument("ttl_seconds: at most ten years");
      const created = now();
      const fresh = newApiKey();
      const record: ApiKeyRecord = {
        id: fresh.id,
        name: req.name,
        roles: [...new Set(req.roles)].sort(),
        appIds: admin || apps.includes("*") ? ["*"] : apps,
        hash: fresh.hash,
        createdMs: created,
        expiresMs: req.ttlSeconds === 0n ? 0 : created + Number(req.ttlSeconds) * 1000,
      };
      // 64 random bits: a clash is as good as impossible, but never overwrite a key.
      if (!(await apiKeys.create(record))) throw heraldError(Code.Aborted, "CONFLICT", "key id clash, try again");
      return { key: toApiKey(record), secret: fresh.key };
    },

    async listApiKeys() {
      return { keys: (await apiKeys.list()).map(toApiKey) };
    },

    async revokeApiKey(req) {
      if (!(await apiKeys.revoke(v.id("id", req.id)))) throw notFound("API_KEY_NOT_FOUND", "API key", req.id);
      return {};
    },

    async authorizeLegacy(req) {
      const appId = v.id("app_id", req.appId);
      if (req.role !== Role.PUBLISH && req.role !== Role.WATCH) throw invalidArgument("role must be ROLE_PUBLISH or ROLE_WATCH");
      if (!auth.enabled) return {};
      const app = await registry.getApp(appId);
      const legacy = app?.legacy;
      // An open network needs nothing; an XMS client of a registered app needs nothing more, unless the app asks for Basic.
      if (legacy && inNetworks(req.sourceIp, legacy.networks)) return {};
      // With access control on, an XMS appid must be a registered app (XMS clients have nothing else to show).
      if (req.xms && !app)
        throw heraldError(Code.PermissionDenied, "APP_NOT_ALLOWED", `appid "${appId}" is not registered`, { app_id: appId });
      if (req.xms && !legacy?.xmsBasic) return {};
      if (req.credential === "") throw credentialRequired();
      // Hashed below: bounded first, as every credential is.
      if (req.credential.length > MAX_CREDENTIAL) throw credentialInvalid("the credential is too long");
      if (legacy?.key && sameDigest(sha256(req.credential), legacy.key)) return {};
      const p = await auth.ofCredential(req.credential);
      if (!hasRole(p, [req.role]) || p.kind === "subscriber" || p.kind === "client") throw roleRequired([req.role]);
      if (!mayTouch(p, appId)) throw appNotAllowed(appId);
      return {};
    },
  };
}

function toApiKey(r: ApiKeyRecord): ApiKey {
  return {
    $typeName: "herald.v1.ApiKey",
    id: r.id,
    name: r.name,
    roles: [...r.roles],
    appIds: [...r.appIds],
    createTime: timestampFromMs(r.createdMs),
    ...(r.expiresMs !== 0 ? { expireTime: timestampFromMs(r.expiresMs) } : {}),
  };
}
