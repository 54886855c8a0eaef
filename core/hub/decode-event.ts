import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../gen/herald/v1/event_pb.js";
import { makeJsonable } from "../rpc/jsonable-value.js";
import type { Logger } from "../logger.js";
import { LEN, ProtoReader, VARINT } from "../wire/proto-reader.js";
import { readContent, readInto, readNamePair, readOnce, readStringField, readTimestamp, readValue } from "../wire/herald-readers.js";

const STRINGS = {
  1: "msgId",
  3: "appId",
  4: "eventId",
  6: "type",
  7: "resourceType",
  8: "resourceId",
  10: "osType",
  15: "requestId",
} as const;

/**
 * Decodes an event of the bus. A payload stored before such values were refused (a non-finite
 * number, a lone surrogate) is rewritten so that it can be written as JSON: otherwise a
 * Connect-JSON watcher's stream would end on it, on every replay, for as long as history keeps it.
 */
export function decodeEvent(message: Uint8Array, logger: Logger): Event {
  const event = readEvent(message) ?? fromBinary(EventSchema, message);
  if (event.payload) {
    const fixed = makeJsonable(event.payload);
    if (fixed.length > 0) {
      logger.warn(
        { app: event.appId, msgId: event.msgId, offset: String(event.offset), fixed },
        "stored event payload was not valid JSON; sent with null / U+FFFD in its place",
      );
    }
  }
  return event;
}

/**
 * The Event fromBinary makes, read by hand: every message a watcher gets is decoded once on each
 * instance, and fromBinary's descriptor walk was the largest part of that. Undefined for what it
 * leaves to fromBinary (a handler change, a field given twice where fromBinary merges, negative
 * times, unknown fields, bad wire data); test/wire-decoding.test.ts compares both.
 */
export function readEvent(bytes: Uint8Array): Event | undefined {
  const r = new ProtoReader(bytes);
  const m: Event = {
    $typeName: "herald.v1.Event",
    msgId: "",
    offset: 0n,
    appId: "",
    eventId: "",
    kind: 0,
    type: "",
    resourceType: "",
    resourceId: "",
    targets: [],
    osType: "",
    namePairs: [],
    requestId: "",
  };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (wire === VARINT) {
      if (no === 2) m.offset = BigInt(r.varint());
      else if (no === 5) {
        const kind = r.varint();
        if (kind > 0x7fffffff) r.bad = true;
        else m.kind = kind;
      } else r.bad = true;
    } else if (wire !== LEN) r.bad = true;
    else if (readStringField(r, m, STRINGS, no)) continue;
    else if (no === 9) m.targets.push(r.str());
    else if (no === 11) readInto(r, m.namePairs, readNamePair);
    else if (no === 12) readOnce(r, m, "content", readContent);
    else if (no === 13) readOnce(r, m, "payload", readValue);
    else if (no === 14) readOnce(r, m, "time", readTimestamp);
    else r.bad = true; // handler_change (16) and unknown fields: fromBinary's
  }
  return r.bad ? undefined : m;
}
