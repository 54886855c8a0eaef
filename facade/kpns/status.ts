import { DeliveryState, type GetMessageStatusResponse } from "../../core/gen/herald/v1/hub_pb.js";
import { PushChannel } from "../../core/gen/herald/v1/push_pb.js";

/** One row of the status body: a message to one subscriber on one channel. */
export interface StatusRow {
  pushId: string;
  ksid: string;
  statusMessage: string;
  status: string;
  /** Present on device rows: `apns`, `fcm` or `webpush` (a row without it is the live-stream one). */
  channel?: string;
  /** Present when the push failed or expired: the push service's reason, or Herald's. */
  reason?: string;
}

/** The original's push status body: one row per message and subscriber, and one per device push. */
export interface StatusBody {
  total: number;
  messages: StatusRow[];
}

const STATES: Record<DeliveryState, { status: string; statusMessage: string }> = {
  [DeliveryState.UNSPECIFIED]: { status: "Initial", statusMessage: "Push accepted. " },
  [DeliveryState.QUEUED]: { status: "Submitted", statusMessage: "Push queued; no live watcher has received it yet. " },
  [DeliveryState.DELIVERED]: { status: "Delivered", statusMessage: "Push delivered to a live watcher. " },
  [DeliveryState.FAILED]: { status: "Failed", statusMessage: "Push failed. " },
  [DeliveryState.EXPIRED]: { status: "Expired", statusMessage: "Push expired. " },
};

const DEVICE_STATES: Record<DeliveryState, { status: string; statusMessage: string }> = {
  [DeliveryState.UNSPECIFIED]: { status: "Initial", statusMessage: "Push accepted. " },
  [DeliveryState.QUEUED]: { status: "Submitted", statusMessage: "Push submitted to the push service. " },
  [DeliveryState.DELIVERED]: { status: "Delivered", statusMessage: "Push accepted by the push service. " },
  [DeliveryState.FAILED]: { status: "Failed", statusMessage: "Push refused by the push service. " },
  [DeliveryState.EXPIRED]: { status: "Expired", statusMessage: "Push expired before the push service accepted it. " },
};

const CHANNELS: Record<PushChannel, string> = {
  [PushChannel.UNSPECIFIED]: "",
  [PushChannel.APNS]: "apns",
  [PushChannel.FCM]: "fcm",
  [PushChannel.WEB_PUSH]: "webpush",
};

/** GetMessageStatus → the body of GET …/api/v1/status/push/request/{id}. Pure. */
export function statusBody(res: GetMessageStatusResponse): StatusBody {
  const messages = res.messages.flatMap((m) =>
    m.subscribers.flatMap((s): StatusRow[] => [
      { pushId: m.msgId, ksid: s.ksid, ...STATES[s.state] },
      ...s.pushes.map((p) => ({
        pushId: m.msgId,
        ksid: s.ksid,
        ...DEVICE_STATES[p.state],
        channel: CHANNELS[p.channel],
        ...(p.reason === "" ? {} : { reason: p.reason }),
      })),
    ]),
  );
  return { total: messages.length, messages };
}
