import type { DescMessage } from "@bufbuild/protobuf";
import { SendEventResponseSchema, SendPushResponseSchema } from "../gen/herald/v1/hub_pb.js";
import { varint } from "../bus/envelope.js";
import type { FastEncoders } from "../transport/grpc-server.js";

const EMPTY = new Uint8Array(0);
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
  const id = r.msgId === "" ? EMPTY : Buffer.from(r.msgId);
  if (id.length > 127) return undefined; // one-byte length below
  const offset = r.offset === 0n ? EMPTY : varint(r.offset);
  const out = Buffer.allocUnsafe((id.length > 0 ? 2 + id.length : 0) + (offset.length > 0 ? 1 + offset.length : 0));
  let i = 0;
  if (id.length > 0) {
    out[i++] = 0x0a; // field 1, length-delimited
    out[i++] = id.length;
    out.set(id, i);
    i += id.length;
  }
  if (offset.length > 0) {
    out[i++] = 0x18; // field 3, varint
    out.set(offset, i);
  }
  return out;
}

/** For the gRPC bridge: the replies above by message type. */
export const sendResponseEncoders: FastEncoders = new Map<DescMessage, typeof encodeSendResponse>([
  [SendEventResponseSchema, encodeSendResponse],
  [SendPushResponseSchema, encodeSendResponse],
]);
