/** The `push` section of the configuration: delivery of pushes to devices through APNs, FCM and Web Push. */
export interface PushConfig {
  /** APNs production endpoint (an `http:` URL speaks HTTP/2 without TLS, for local fakes). */
  apnsUrl: string;
  /** APNs development endpoint, for apps whose provider is `sandbox`. */
  apnsSandboxUrl: string;
  /** HTTP/2 connections kept to each APNs endpoint; streams are spread over them. */
  apnsConnections: number;
  /** FCM HTTP v1 API base (`{base}/v1/projects/{id}/messages:send`). */
  fcmUrl: string;
  /** Google's OAuth2 token endpoint, where service-account JWTs are exchanged for access tokens. */
  fcmTokenUrl: string;
  /** Pushes in flight at once per channel, per instance. */
  concurrency: number;
  /** One call to a push service not answered within this time is retried (ms). */
  callTimeoutMs: number;
  /** Retries of a push after a 429, a 5xx or a lost connection (attempts = 1 + this). */
  retryLimit: number;
  /** First retry delay, doubling each retry, unless the service sends Retry-After (ms). */
  backoffBaseMs: number;
  /** Longest retry delay, Retry-After included (ms). */
  backoffMaxMs: number;
  /** How long a push is tried when the message gives no TTL (seconds). */
  ttlSeconds: number;
  /** Queued push jobs whose instance has been silent this long are taken over by another (ms). */
  claimIdleMs: number;
  /**
   * Host names, IP addresses and CIDR ranges (comma-separated) push services may be reached at
   * although they are loopback, private or otherwise not public (refused by default: Web Push
   * endpoints come from subscribers).
   */
  allowHosts: string;
}

export const defaultPushConfig: PushConfig = {
  apnsUrl: "https://api.push.apple.com",
  apnsSandboxUrl: "https://api.sandbox.push.apple.com",
  apnsConnections: 2,
  fcmUrl: "https://fcm.googleapis.com",
  fcmTokenUrl: "https://oauth2.googleapis.com/token",
  concurrency: 256,
  callTimeoutMs: 10_000,
  retryLimit: 5,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  ttlSeconds: 24 * 60 * 60,
  claimIdleMs: 30_000,
  allowHosts: "",
};
