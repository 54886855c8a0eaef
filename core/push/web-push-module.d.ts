// The parts of `web-push` (which ships no types) that Herald uses.
declare module "web-push" {
  interface RequestDetails {
    method: string;
    headers: Record<string, string | number>;
    body: Buffer | null;
    endpoint: string;
  }
  interface RequestOptions {
    vapidDetails: { subject: string; publicKey: string; privateKey: string };
    TTL?: number;
    urgency?: "very-low" | "low" | "normal" | "high";
    topic?: string;
    contentEncoding?: "aes128gcm" | "aesgcm";
  }
  interface PushSubscription {
    endpoint: string;
    keys: { p256dh: string; auth: string };
  }
  const webPush: {
    generateRequestDetails(subscription: PushSubscription, payload: string | Buffer, options: RequestOptions): RequestDetails;
  };
  export default webPush;
}
