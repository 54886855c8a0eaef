import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AppSchema, EventDefinitionSchema, type RegistryService } from "../gen/herald/v1/registry_pb.js";
import type { Stores } from "../store/stores.js";
import { appNotFound, eventNotFound, found, invalidArgument, notFound } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";
import type { Bus } from "../bus/bus.js";
import { createHandlerRegistry } from "./handler-registry.js";
import { createAccessService } from "../auth/access-service.js";
import type { Authenticator } from "../auth/authenticator.js";
import { appToStore, publicApp } from "../auth/legacy-access.js";
import { requireApp } from "../auth/principal.js";
import { createPushProviderRegistry } from "./push-providers.js";

/** The os types a Kony/Volt MX subscription accepts. */
export const OS_TYPES = new Set(["iphone", "ipad", "androidgcm", "androidjpush", "blackberry", "windows", "windows8", "webfcm", "web"]);

/** Longest sid: a web subscriber's is its PushSubscription as JSON (endpoint URL and keys). */
const MAX_SID_LENGTH = 4096;

/** A web subscriber's sid: the browser's PushSubscription (`endpoint`, `keys.p256dh`, `keys.auth`) as JSON. */
function checkWebSubscription(sid: string): void {
  let s: { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  try {
    s = JSON.parse(sid) as typeof s;
  } catch {
    throw invalidArgument("sid of a web subscriber must be its PushSubscription as JSON");
  }
  let url: URL | undefined;
  try {
    url = typeof s?.endpoint === "string" ? new URL(s.endpoint) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) throw invalidArgument("sid.endpoint must be an https URL");
  const b64 = (x: unknown, bytes: number) =>
    typeof x === "string" && /^[A-Za-z0-9_-]+=*$/.test(x) && Buffer.from(x, "base64url").length === bytes;
  if (!b64(s.keys?.p256dh, 65)) throw invalidArgument("sid.keys.p256dh must be a P-256 public key (65 bytes), base64url");
  if (!b64(s.keys?.auth, 16)) throw invalidArgument("sid.keys.auth must be 16 bytes, base64url");
}

export function createRegistryService(deps: {
  stores: Stores;
  bus: Bus;
  validator: Validator;
  auth: Authenticator;
}): ServiceImpl<typeof RegistryService> {
  const { validator: v } = deps;
  const store = deps.stores.registry;

  const subscriberNotFound = (ksid: string) => notFound("SUBSCRIBER_NOT_FOUND", "subscriber", ksid);

  return {
    ...createHandlerRegistry({ handlers: deps.stores.handlers, bus: deps.bus, validator: v }),
    ...createAccessService({ apiKeys: deps.stores.apiKeys, registry: store, auth: deps.auth, validator: v }),
    ...createPushProviderRegistry({ providers: deps.stores.pushProviders, registry: store, validator: v }),

    async upsertApp(req) {
      const a = v.present("app", req.app);
      v.id("app.id", a.id);
      v.short("app.name", a.name);
      const before = await store.getApp(a.id);
      return { app: publicApp(await store.upsertApp(appToStore(create(AppSchema, a), before))) };
    },
    async getApp(req) {
      return { app: publicApp(found(await store.getApp(v.id("id", req.id)), "APP_NOT_FOUND", "app", req.id)) };
    },
    async listApps() {
      return { apps: (await store.listApps()).map(publicApp) };
    },
    async deleteApp(req) {
      if (!(await store.deleteApp(v.id("id", req.id)))) throw appNotFound(req.id);
      await deps.stores.pushProviders.clearApp(req.id);
      return {};
    },

    async upsertEvent(req) {
      const e = v.present("event", req.event);
      v.id("event.id", e.id);
      v.id("event.app_id", e.appId);
      v.short("event.name", e.name);
      if (Buffer.byteLength(e.message) > 64 * 1024) throw invalidArgument("event.message is larger than 64 KiB");
      if (!(await store.getApp(e.appId))) throw appNotFound(e.appId);
      return { event: await store.upsertEvent(create(EventDefinitionSchema, e)) };
    },
    async getEvent(req) {
      return { event: found(await store.getEvent(v.id("id", req.id)), "EVENT_NOT_FOUND", "event", req.id) };
    },
    async listEvents(req) {
      const appId = v.id("app_id", req.appId);
      if (!(await store.getApp(appId))) throw appNotFound(appId);
      return { events: await store.listEvents(appId) };
    },
    async deleteEvent(req) {
      if (!(await store.deleteEvent(v.id("id", req.id)))) throw eventNotFound(req.id);
      return {};
    },

    async subscribe(req) {
      const appId = v.id("app_id", req.appId);
      v.optionalId("device_id", req.deviceId);
      v.optionalId("ufid", req.ufid);
      if (req.sid.length > MAX_SID_LENGTH) throw invalidArgument(`sid is longer than ${MAX_SID_LENGTH} characters`);
      if (req.deviceId === "" && req.ufid === "") throw invalidArgument("device_id or ufid is required");
      if (!OS_TYPES.has(req.osType)) {
        throw invalidArgument(`os_type must be one of ${[...OS_TYPES].join(", ")}`);
      }
      if (req.osType === "web" && req.sid !== "") checkWebSubscription(req.sid);
      if (!(await store.getApp(appId))) throw appNotFound(appId);
      const sub = await store.subscribe({
        appId,
        deviceId: req.deviceId,
        ufid: req.ufid,
        osType: req.osType,
        sid: req.sid,
      });
      return { ksid: sub.ksid };
    },
    async unsubscribe(req, ctx) {
      const ksid = v.id("ksid", req.ksid);
      const sub = await store.getSubscriber(ksid);
      if (!sub) throw subscriberNotFound(ksid);
      requireApp(ctx, sub.appId);
      if (!(await store.unsubscribe(ksid))) throw subscriberNotFound(ksid);
      return {};
    },
    async getSubscriber(req) {
      return { subscriber: found(await store.getSubscriber(v.id("ksid", req.ksid)), "SUBSCRIBER_NOT_FOUND", "subscriber", req.ksid) };
    },
    async listSubscribers(req) {
      const appId = v.id("app_id", req.appId);
      if (!(await store.getApp(appId))) throw appNotFound(appId);
      return { subscribers: await store.listSubscribers(appId) };
    },
  };
}
