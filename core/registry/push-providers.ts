import { createECDH, createPrivateKey, type KeyObject } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { RegistryService } from "../gen/herald/v1/registry_pb.js";
import { PushChannel, type PushProvider, PushProviderSchema } from "../gen/herald/v1/push_pb.js";
import type { PushProviderStore } from "../store/push-provider-store.js";
import type { RegistryStore } from "../store/registry-store.js";
import { pushChannelOf } from "../store/push-channel-of.js";
import { appNotFound, invalidArgument, notFound } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";

type PushProviderMethods = Pick<ServiceImpl<typeof RegistryService>, "setPushProvider" | "getPushProviders" | "clearPushProvider">;

/** A provider as returned: private key dropped, `has_private_key` set. */
export function publicProvider(p: PushProvider): PushProvider {
  const out = clone(PushProviderSchema, p);
  const c = out.config.value;
  if (c) {
    c.hasPrivateKey = c.privateKey !== "";
    c.privateKey = "";
  }
  return out;
}

function pemKey(at: string, pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw invalidArgument(`${at} is not a PEM private key`);
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** SetPushProvider, GetPushProviders, ClearPushProvider: an app's push credentials, admin only. */
export function createPushProviderRegistry(deps: {
  providers: PushProviderStore;
  registry: RegistryStore;
  validator: Validator;
}): PushProviderMethods {
  const { providers, registry, validator: v } = deps;

  async function existingApp(appId: string): Promise<void> {
    if (!(await registry.getApp(appId))) throw appNotFound(appId);
  }

  /** Checks the provider's fields; an empty private key takes the stored one's, else is refused. */
  function check(p: PushProvider, stored: PushProvider | undefined): void {
    const c = p.config;
    const keep = (at: string) => {
      const previous = stored?.config.case === c.case ? stored?.config.value?.privateKey : undefined;
      if (!previous) throw invalidArgument(`${at} is required (no key is stored for this channel yet)`);
      return previous;
    };
    switch (c.case) {
      case "apns": {
        const a = c.value;
        v.required("provider.apns.team_id", a.teamId);
        v.required("provider.apns.key_id", a.keyId);
        v.required("provider.apns.topic", a.topic);
        if (a.privateKey === "") a.privateKey = keep("provider.apns.private_key");
        const key = pemKey("provider.apns.private_key", a.privateKey);
        if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
          throw invalidArgument("provider.apns.private_key must be a P-256 (ES256) key, as APNs issues (.p8)");
        }
        break;
      }
      case "fcm": {
        const f = c.value;
        v.id("provider.fcm.project_id", f.projectId);
        v.required("provider.fcm.client_email", f.clientEmail);
        if (f.privateKey === "") f.privateKey = keep("provider.fcm.private_key");
        if (pemKey("provider.fcm.private_key", f.privateKey).asymmetricKeyType !== "rsa") {
          throw invalidArgument("provider.fcm.private_key must be an RSA key, as in a service account's JSON");
        }
        break;
      }
      case "webPush": {
        const w = c.value;
        if (!/^(mailto:|https:\/\/)/.test(v.required("provider.web_push.subject", w.subject))) {
          throw invalidArgument("provider.web_push.subject must be a mailto: or https: URL");
        }
        if (!BASE64URL.test(w.publicKey) || Buffer.from(w.publicKey, "base64url").length !== 65) {
          throw invalidArgument("provider.web_push.public_key must be an uncompressed P-256 point (65 bytes), base64url");
        }
        if (w.privateKey === "") w.privateKey = keep("provider.web_push.private_key");
        if (!BASE64URL.test(w.privateKey) || Buffer.from(w.privateKey, "base64url").length !== 32) {
          throw invalidArgument("provider.web_push.private_key must be a P-256 private key (32 bytes), base64url");
        }
        // The two halves must belong together, or every push would fail at the push service.
        let derived: Buffer;
        try {
          const ecdh = createECDH("prime256v1");
          ecdh.setPrivateKey(Buffer.from(w.privateKey, "base64url"));
          derived = ecdh.getPublicKey();
        } catch {
          throw invalidArgument("provider.web_push.private_key is not a P-256 private key");
        }
        if (!derived.equals(Buffer.from(w.publicKey, "base64url"))) {
          throw invalidArgument("provider.web_push.public_key does not belong to private_key");
        }
        break;
      }
      default:
        throw invalidArgument("provider needs one of apns, fcm, web_push");
    }
  }

  return {
    async setPushProvider(req) {
      const p = clone(PushProviderSchema, v.present("provider", req.provider));
      const appId = v.id("provider.app_id", p.appId);
      await existingApp(appId);
      const channel = pushChannelOf(p);
      const stored = channel === PushChannel.UNSPECIFIED ? undefined : await providers.get(appId, channel);
      check(p, stored);
      await providers.set(p);
      return { provider: publicProvider(p) };
    },
    async getPushProviders(req) {
      const appId = v.id("app_id", req.appId);
      await existingApp(appId);
      return { providers: (await providers.list(appId)).map(publicProvider) };
    },
    async clearPushProvider(req) {
      const appId = v.id("app_id", req.appId);
      if (req.channel === PushChannel.UNSPECIFIED || !(req.channel in PushChannel)) {
        throw invalidArgument("channel must be PUSH_CHANNEL_APNS, PUSH_CHANNEL_FCM or PUSH_CHANNEL_WEB_PUSH");
      }
      await existingApp(appId);
      if (!(await providers.clear(appId, req.channel))) {
        throw notFound("PUSH_PROVIDER_NOT_FOUND", `${PushChannel[req.channel]} push provider of app`, appId);
      }
      return {};
    },
  };
}
