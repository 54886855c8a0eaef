import { create, toBinary } from "@bufbuild/protobuf";
import { DeliveryState, MessageStatusSchema } from "../gen/herald/v1/hub_pb.js";
import { lenSize, ProtoWriter, strSize, varintFieldSize } from "../wire/proto-writer.js";
import type { RecordedMessage } from "./message-status.js";

/**
 * The record RedisStore keeps of every published message: a MessageStatus with each target QUEUED.
 * Written by hand, since it is made on every send (toBinary was a sixth of a send's allocations in
 * Redis mode): the same bytes as toBinary (test/units compares both). A time before 1970 takes
 * toBinary, as varints here are written from non-negative numbers.
 */
export function encodeStatusRecord(r: RecordedMessage): Uint8Array {
  if (r.time.seconds < 0n || r.time.nanos < 0) {
    return toBinary(
      MessageStatusSchema,
      create(MessageStatusSchema, {
        msgId: r.msgId,
        appId: r.appId,
        time: r.time,
        broadcast: r.broadcast,
        subscribers: r.ksids.map((ksid) => ({ ksid, state: DeliveryState.QUEUED })),
      }),
    );
  }
  const seconds = Number(r.time.seconds);
  const timeSize = varintFieldSize(seconds) + varintFieldSize(r.time.nanos);
  const queued = varintFieldSize(DeliveryState.QUEUED);
  let size = strSize(r.msgId) + strSize(r.appId) + 1 + lenSize(timeSize) + varintFieldSize(r.broadcast ? 1 : 0);
  const subscriberSizes = r.ksids.map((ksid) => strSize(ksid) + queued);
  for (const n of subscriberSizes) size += 1 + lenSize(n);

  const w = new ProtoWriter(size);
  w.str(1, r.msgId);
  w.str(2, r.appId);
  w.nested(3, timeSize);
  w.varintField(1, seconds);
  w.varintField(2, r.time.nanos);
  w.varintField(4, r.broadcast ? 1 : 0);
  r.ksids.forEach((ksid, i) => {
    w.nested(5, subscriberSizes[i]!);
    w.str(1, ksid);
    w.varintField(2, DeliveryState.QUEUED);
  });
  return w.finish();
}
