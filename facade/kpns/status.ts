import { DeliveryState, type GetMessageStatusResponse } from "../../core/gen/herald/v1/hub_pb.js";

/** The original's push status body: one row per message and subscriber. */
export interface StatusBody {
  total: number;
  messages: Array<{ pushId: string; ksid: string; statusMessage: string; status: string }>;
}

const STATES: Record<DeliveryState, { status: string; statusMessage: string }> = {
  [DeliveryState.UNSPECIFIED]: { status: "Initial", statusMessage: "Push accepted. " },
  [DeliveryState.QUEUED]: { status: "Submitted", statusMessage: "Push queued; no live watcher has received it yet. " },
  [DeliveryState.DELIVERED]: { status: "Delivered", statusMessage: "Push delivered to a live watcher. " },
};

/** GetMessageStatus → the body of GET …/api/v1/status/push/request/{id}. Pure. */
export function statusBody(res: GetMessageStatusResponse): StatusBody {
  const messages = res.messages.flatMap((m) => m.subscribers.map((s) => ({ pushId: m.msgId, ksid: s.ksid, ...STATES[s.state] })));
  return { total: messages.length, messages };
}
