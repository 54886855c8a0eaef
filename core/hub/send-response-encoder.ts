import type { DescMessage } from "@bufbuild/protobuf";
import { SendEventResponseSchema, SendPushResponseSchema } from "../gen/herald/v1/hub_pb.js";
import { ProtoWriter, strSize, varintFieldSize } from "../wire/proto-writer.js";
import type { FastEncoders } from "../wire/fast-encoders.js";

const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Encodes the reply of SendEvent and SendPush (msg_id = 1, invalid_subscribers = 2, offset = 3)
 * without building a message or walking its descriptor, for the gRPC transport: the same bytes as
 * `toBinary(schema, create(schema, reply))` (test/units compares both). Returns undefined for
 * what it leaves to toBinary: a reply listing invalid subscribers, anything unexpected.
 */
export function encodeSendResponse(reply: unknown): Uint8Array | undefined {
  const r = reply as { msgId?: unknown; offset?: unknown; invalidSubscribers?: unknown; $unknown?: unknown };
  if (typeof r.msgId !== "string" || typeof r.offset !== "bigint" || r.$unknown !== undefined) return undefined;
  if (!Array.isArray(r.invalidSubscribers) || r.invalidSubscribers.length > 0) return undefined;
  if (r.offset < 0n || r.offset > MAX_OFFSET) return undefined;
  const offset = Number(r.offset);
  const w = new ProtoWriter(strSize(r.msgId) + varintFieldSize(offset));
  w.str(1, r.msgId);
  w.varintField(3, offset);
  return w.finish();
}

/** For the gRPC bridge: the replies above by message type. */
export const sendResponseEncoders: FastEncoders = new Map<DescMessage, typeof encodeSendResponse>([
  [SendEventResponseSchema, encodeSendResponse],
  [SendPushResponseSchema, encodeSendResponse],
]);
