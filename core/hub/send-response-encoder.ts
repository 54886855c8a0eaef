import type { DescMessage } from "@bufbuild/protobuf";
import {
  SendEventBatchResponseSchema,
  SendEventResponseSchema,
  SendPushBatchResponseSchema,
  SendPushResponseSchema,
} from "../gen/herald/v1/hub_pb.js";
import { lenSize, ProtoWriter, strSize, varintFieldSize } from "../wire/proto-writer.js";
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

/**
 * Encodes the reply of SendEventBatch and SendPushBatch (responses = 1, each as above; request_id =
 * 2) the same way: a batch is many sends, and its reply costs as much as the rest of the call to
 * encode through the descriptor. Undefined (toBinary) when any response is left to toBinary.
 */
export function encodeBatchResponse(reply: unknown): Uint8Array | undefined {
  const r = reply as { responses?: unknown; requestId?: unknown; $unknown?: unknown };
  if (!Array.isArray(r.responses) || typeof r.requestId !== "string" || r.$unknown !== undefined) return undefined;
  const parts: Uint8Array[] = [];
  let size = strSize(r.requestId);
  for (const response of r.responses) {
    const part = encodeSendResponse(response);
    if (!part) return undefined;
    parts.push(part);
    size += 1 + lenSize(part.length);
  }
  const w = new ProtoWriter(size);
  for (const part of parts) w.bytes(1, part);
  w.str(2, r.requestId);
  return w.finish();
}

/** For the gRPC bridge: the replies above by message type. */
export const sendResponseEncoders: FastEncoders = new Map<DescMessage, (reply: unknown) => Uint8Array | undefined>([
  [SendEventResponseSchema, encodeSendResponse],
  [SendPushResponseSchema, encodeSendResponse],
  [SendEventBatchResponseSchema, encodeBatchResponse],
  [SendPushBatchResponseSchema, encodeBatchResponse],
]);
