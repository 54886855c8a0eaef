import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DeliveryState, MessageStatusSchema } from "../core/gen/herald/v1/hub_pb.js";
import { PushChannel } from "../core/gen/herald/v1/push_pb.js";
import { statusTable } from "../server/cli/hub-commands.js";

describe("herald status table", () => {
  it("shows each subscriber's device push beside the watcher state: channel, state, the service's reason", () => {
    const message = create(MessageStatusSchema, {
      msgId: "7",
      appId: "shop",
      time: timestampFromMs(Date.UTC(2026, 0, 2, 3, 4, 5)),
      subscribers: [
        { ksid: "1", state: DeliveryState.QUEUED, pushes: [{ channel: PushChannel.APNS, state: DeliveryState.DELIVERED }] },
        {
          ksid: "2",
          state: DeliveryState.QUEUED,
          pushes: [{ channel: PushChannel.FCM, state: DeliveryState.FAILED, reason: "UNREGISTERED" }],
        },
        {
          ksid: "3",
          state: DeliveryState.QUEUED,
          pushes: [{ channel: PushChannel.WEB_PUSH, state: DeliveryState.EXPIRED, reason: "late" }],
        },
        { ksid: "4", state: DeliveryState.QUEUED },
      ],
    });
    const [header, ...rows] = statusTable([message]).trimEnd().split("\n");
    assert.equal(header!.split(/\s{2,}/).at(-1), "DEVICE");
    assert.deepEqual(
      rows.map((r) => r.split(/\s{2,}/).at(-1)),
      ["apns delivered", "fcm failed (UNREGISTERED)", "web-push expired (late)", "-"],
    );
  });
});
