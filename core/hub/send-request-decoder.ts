import type { DescMessage } from "@bufbuild/protobuf";
import {
  SendEventBatchRequestSchema,
  SendEventRequestSchema,
  type SendEventBatchRequest,
  type SendEventRequest,
} from "../gen/herald/v1/hub_pb.js";
import { LEN, ProtoReader } from "../wire/proto-reader.js";
import { readContent, readInto, readNamePair, readOnce, readStringField, readSubscriberRef, readValue } from "../wire/herald-readers.js";
import type { FastDecoders } from "../wire/fast-decoders.js";

/**
 * Decodes SendEvent and SendEventBatch requests without walking their descriptors: on a batch of
 * small events, fromBinary costs more than everything else the core does with them. The result is
 * the message fromBinary makes (test/wire-decoding.test.ts compares both on generated and broken input). Anything
 * out of the ordinary — push options, a struct or list payload, a field given twice where
 * fromBinary would merge, unknown fields, bad wire data, invalid UTF-8 — answers undefined, and
 * the caller decodes with fromBinary, as before.
 */
export function decodeSendEventRequest(bytes: Uint8Array): SendEventRequest | undefined {
  const r = new ProtoReader(bytes);
  const m = readEvent(r);
  return r.bad ? undefined : m;
}

export function decodeSendEventBatchRequest(bytes: Uint8Array): SendEventBatchRequest | undefined {
  const r = new ProtoReader(bytes);
  const m: SendEventBatchRequest = {
    $typeName: "herald.v1.SendEventBatchRequest",
    appId: "",
    events: [],
    requestId: "",
    idempotencyKey: "",
  };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (wire !== LEN) r.bad = true;
    else if (readStringField(r, m, BATCH_STRINGS, no)) continue;
    else if (no === 2) readInto(r, m.events, readEvent);
    else r.bad = true;
  }
  return r.bad ? undefined : m;
}

const BATCH_STRINGS = { 1: "appId", 3: "requestId", 4: "idempotencyKey" } as const;
const EVENT_STRINGS = {
  1: "appId",
  2: "eventId",
  6: "type",
  7: "resourceType",
  8: "resourceId",
  10: "requestId",
  11: "idempotencyKey",
} as const;

function readEvent(r: ProtoReader): SendEventRequest {
  const m: SendEventRequest = {
    $typeName: "herald.v1.SendEventRequest",
    appId: "",
    eventId: "",
    subscribers: [],
    namePairs: [],
    type: "",
    resourceType: "",
    resourceId: "",
    requestId: "",
    idempotencyKey: "",
  };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (wire !== LEN) r.bad = true;
    else if (readStringField(r, m, EVENT_STRINGS, no)) continue;
    else if (no === 3) readInto(r, m.subscribers, readSubscriberRef);
    else if (no === 4) readInto(r, m.namePairs, readNamePair);
    else if (no === 5) readOnce(r, m, "content", readContent);
    else if (no === 9) readOnce(r, m, "payload", readValue);
    else r.bad = true; // push_options (12) and unknown fields: fromBinary's
  }
  return m;
}

/** For the gRPC bridge: the requests above by message type. */
export const sendRequestDecoders: FastDecoders = new Map<DescMessage, (bytes: Uint8Array) => unknown>([
  [SendEventRequestSchema, decodeSendEventRequest],
  [SendEventBatchRequestSchema, decodeSendEventBatchRequest],
]);
