import { PushChannel, type PushProvider } from "../gen/herald/v1/push_pb.js";

/** The channel a provider configures; UNSPECIFIED when it configures none. */
export function pushChannelOf(provider: PushProvider): PushChannel {
  switch (provider.config.case) {
    case "apns":
      return PushChannel.APNS;
    case "fcm":
      return PushChannel.FCM;
    case "webPush":
      return PushChannel.WEB_PUSH;
    default:
      return PushChannel.UNSPECIFIED;
  }
}
