import type { DescMessage } from "@bufbuild/protobuf";
import {
  SendEventBatchRequestSchema,
  SendEventRequestSchema,
  type SendEventBatchRequest,
  type SendEventRequest,
} from "../gen/herald/v1/hub_pb.js";
import { LEN, ProtoReader } from "../wire/proto-reader.js";
import { readContent, readNamePair, readSubscriberRef, readValue } from "../wire/herald-readers.js";
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
    if (no === 2 && wire === LEN) {
      const event = r.nested(readEvent);
      if (event) m.events.push(event);
    } else if (wire !== LEN) r.bad = true;
    else if (no === 1) m.appId = r.str();
    else if (no === 3) m.requestId = r.str();
    else if (no === 4) m.idempotencyKey = r.str();
    else r.bad = true;
  }
  return r.bad ? undefined : m;
}

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
    if (wire !== LEN) {
      r.bad = true;
      break;
    }
    switch (no) {
      case 1:
        m.appId = r.str();
        break;
      case 2:
        m.eventId = r.str();
        break;
      case 3: {
        const ref = r.nested(readSubscriberRef);
        if (ref) m.subscribers.push(ref);
        break;
      }
      case 4: {
        const pair = r.nested(readNamePair);
        if (pair) m.namePairs.push(pair);
        break;
      }
      case 5:
        // Given twice, fromBinary merges the two.
        if (m.content) r.bad = true;
        else {
          const content = r.nested(readContent);
          if (content) m.content = content;
        }
        break;
      case 6:
        m.type = r.str();
        break;
      case 7:
        m.resourceType = r.str();
        break;
      case 8:
        m.resourceId = r.str();
        break;
      case 9:
        if (m.payload) r.bad = true;
        else {
          const payload = r.nested(readValue);
          if (payload) m.payload = payload;
        }
        break;
      case 10:
        m.requestId = r.str();
        break;
      case 11:
        m.idempotencyKey = r.str();
        break;
      default:
        r.bad = true;
    }
  }
  return m;
}

/** For the gRPC bridge: the requests above by message type. */
export const sendRequestDecoders: FastDecoders = new Map<DescMessage, (bytes: Uint8Array) => unknown>([
  [SendEventRequestSchema, decodeSendEventRequest],
  [SendEventBatchRequestSchema, decodeSendEventBatchRequest],
]);
