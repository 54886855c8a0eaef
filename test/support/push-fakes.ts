import { ApnsFake } from "./apns-fake.js";
import { FcmFake } from "./fcm-fake.js";
import { apnsKey, serviceAccountKey, vapidKeys } from "./push-keys.js";
import { WebPushReceiver } from "./web-push-receiver.js";
import type { PushConfig } from "../../core/push/push-config.js";

export const TEAM = "TEAM000001";
export const KEY_ID = "KEY0000001";
export const TOPIC = "com.example.shop";
export const PROJECT = "shop-prod";
export const SA_EMAIL = "push@shop-prod.iam.gserviceaccount.com";

/** The three push services, faked on 127.0.0.1, with the credentials an app's providers hold. */
export class PushFakes {
  private constructor(
    readonly apns: ApnsFake,
    readonly fcm: FcmFake,
    readonly web: WebPushReceiver,
    readonly keys: { apns: ReturnType<typeof apnsKey>; sa: ReturnType<typeof serviceAccountKey>; vapid: ReturnType<typeof vapidKeys> },
  ) {}

  static async start(): Promise<PushFakes> {
    const keys = { apns: apnsKey(), sa: serviceAccountKey(), vapid: vapidKeys() };
    const [apns, fcm, web] = await Promise.all([ApnsFake.start(), FcmFake.start(), WebPushReceiver.start(keys.vapid.publicKey)]);
    apns.trust(KEY_ID, TEAM, keys.apns.publicKey, TOPIC);
    fcm.trust(SA_EMAIL, keys.sa.publicKey, PROJECT);
    return new PushFakes(apns, fcm, web, keys);
  }

  /** Herald's push section pointed at the fakes (which live on loopback: allowed). */
  config(over: Partial<PushConfig> = {}): Partial<PushConfig> {
    return {
      apnsUrl: this.apns.url,
      apnsSandboxUrl: this.apns.url,
      fcmUrl: this.fcm.url,
      fcmTokenUrl: this.fcm.tokenUrl,
      allowHosts: "127.0.0.1",
      ...over,
    };
  }

  /** The same, as command-line flags for a Herald process. */
  flags(over: Record<string, string> = {}): string[] {
    const all: Record<string, string> = {
      "apns-url": this.apns.url,
      "apns-sandbox-url": this.apns.url,
      "fcm-url": this.fcm.url,
      "fcm-token-url": this.fcm.tokenUrl,
      "push-allow-hosts": "127.0.0.1",
      ...over,
    };
    return Object.entries(all).flatMap(([k, v]) => [`--${k}`, v]);
  }

  /** SetPushProvider requests (gRPC wire shape) for all three channels of `appId`. */
  providers(appId: string): object[] {
    return [
      { appId, apns: { teamId: TEAM, keyId: KEY_ID, topic: TOPIC, privateKey: this.keys.apns.privateKey } },
      { appId, fcm: { projectId: PROJECT, clientEmail: SA_EMAIL, privateKey: this.keys.sa.privateKey } },
      {
        appId,
        webPush: { subject: "mailto:ops@example.com", publicKey: this.keys.vapid.publicKey, privateKey: this.keys.vapid.privateKey },
      },
    ];
  }

  async close(): Promise<void> {
    await Promise.all([this.apns.close(), this.fcm.close(), this.web.close()]);
  }
}
