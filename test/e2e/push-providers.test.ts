import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { RedisServer } from "../support/redis-server.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rejection, unary } from "../support/grpc-client.js";
import { apnsKey, serviceAccountKey, vapidKeys } from "../support/push-keys.js";

/** Push providers through the registry RPCs over gRPC: stored per app and channel, keys never returned. */
for (const mode of ["embedded", "redis"] as const) {
  describe(`push providers (${mode}, over gRPC)`, () => {
    let redis: RedisServer | undefined;
    let h: TestHerald;
    let other: TestHerald | undefined;
    const apns = apnsKey();
    const sa = serviceAccountKey();
    const vapid = vapidKeys();

    before(async () => {
      if (mode === "embedded") h = await startTestHerald();
      else {
        if (!process.env["REDIS_URL"]) redis = await RedisServer.start();
        const url = process.env["REDIS_URL"] ?? redis!.url;
        const keyPrefix = uniquePrefix();
        h = await startTestHerald({ redis: { url, keyPrefix } });
        other = await startTestHerald({ redis: { url, keyPrefix } });
      }
      await unary(h.clients.registry, "upsertApp", { app: { id: "shop", name: "shop", published: true } });
    });
    after(async () => {
      await other?.stop();
      await h?.stop();
      await redis?.stop();
    });

    const set = (provider: object) => unary(h.clients.registry, "setPushProvider", { provider: { appId: "shop", ...provider } });

    it("keeps one provider per channel, returns them without their private keys, and clears them", async () => {
      const apnsConfig = { teamId: "TEAM123456", keyId: "KEY1234567", topic: "com.example.shop", sandbox: true };
      const set1 = await set({ apns: { ...apnsConfig, privateKey: apns.privateKey } });
      assert.deepEqual(set1.provider.apns, { ...apnsConfig, privateKey: "", hasPrivateKey: true });
      await set({ fcm: { projectId: "shop-prod", clientEmail: "push@shop-prod.iam.gserviceaccount.com", privateKey: sa.privateKey } });
      await set({ webPush: { subject: "mailto:ops@example.com", publicKey: vapid.publicKey, privateKey: vapid.privateKey } });
      // Without a key: the stored one is kept.
      await set({ apns: { ...apnsConfig, topic: "com.example.shop2" } });

      const reader = other ?? h;
      const { providers } = await unary(reader.clients.registry, "getPushProviders", { appId: "shop" });
      assert.deepEqual(
        providers.map((p: any) => [p.config, p[p.config].hasPrivateKey, p[p.config].privateKey]),
        [
          ["apns", true, ""],
          ["fcm", true, ""],
          ["webPush", true, ""],
        ],
      );
      assert.equal(providers[0].apns.topic, "com.example.shop2");

      await unary(h.clients.registry, "clearPushProvider", { appId: "shop", channel: "PUSH_CHANNEL_FCM" });
      const after = await unary(reader.clients.registry, "getPushProviders", { appId: "shop" });
      assert.deepEqual(
        after.providers.map((p: any) => p.config),
        ["apns", "webPush"],
      );
      const err = await rejection(unary(h.clients.registry, "clearPushProvider", { appId: "shop", channel: "PUSH_CHANNEL_FCM" }));
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.metadata.get("herald-reason")[0], "PUSH_PROVIDER_NOT_FOUND");
    });

    it("refuses bad credentials with INVALID_ARGUMENT and says which field", async () => {
      const cases: Array<[object, RegExp]> = [
        [{ apns: { teamId: "T", keyId: "K", topic: "t", privateKey: sa.privateKey } }, /P-256/],
        [{ apns: { teamId: "T", keyId: "K", topic: "t", privateKey: "not a key" } }, /apns\.private_key is not a PEM/],
        [{ apns: { keyId: "K", topic: "t", privateKey: apns.privateKey } }, /apns\.team_id is required/],
        [{ fcm: { projectId: "p", clientEmail: "e", privateKey: apns.privateKey } }, /RSA/],
        [{ fcm: { projectId: "p", clientEmail: "e" } }, /fcm\.private_key is required/],
        [{ webPush: { subject: "ops", publicKey: vapid.publicKey, privateKey: vapid.privateKey } }, /subject must be/],
        [{ webPush: { subject: "mailto:a@b", publicKey: vapidKeys().publicKey, privateKey: vapid.privateKey } }, /does not belong/],
        [{}, /one of apns, fcm, web_push/],
      ];
      await unary(h.clients.registry, "clearPushProvider", { appId: "shop", channel: "PUSH_CHANNEL_FCM" }).catch(() => undefined);
      for (const [provider, message] of cases) {
        const err = await rejection(set(provider)).catch((e: unknown) => assert.fail(`${JSON.stringify(provider)}: ${e}`));
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(provider));
        assert.match(err.details, message);
      }
      const missing = await rejection(unary(h.clients.registry, "getPushProviders", { appId: "nope" }));
      assert.equal(missing.code, grpc.status.NOT_FOUND);
    });

    it("drops an app's providers with the app", async () => {
      await unary(h.clients.registry, "upsertApp", { app: { id: "gone", name: "gone" } });
      await unary(h.clients.registry, "setPushProvider", {
        provider: { appId: "gone", fcm: { projectId: "p", clientEmail: "e", privateKey: sa.privateKey } },
      });
      await unary(h.clients.registry, "deleteApp", { id: "gone" });
      await unary(h.clients.registry, "upsertApp", { app: { id: "gone", name: "gone" } });
      assert.deepEqual((await unary(h.clients.registry, "getPushProviders", { appId: "gone" })).providers, []);
    });
  });
}
