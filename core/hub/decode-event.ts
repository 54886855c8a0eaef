import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../gen/herald/v1/event_pb.js";
import { makeJsonable } from "../rpc/jsonable-value.js";
import type { Logger } from "../logger.js";
import { LEN, ProtoReader, VARINT } from "../wire/proto-reader.js";
import { readContent, readNamePair, readTimestamp, readValue } from "../wire/herald-readers.js";

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
      continue;
    }
    if (wire !== LEN) {
      r.bad = true;
      break;
    }
    switch (no) {
      case 1:
        m.msgId = r.str();
        break;
      case 3:
        m.appId = r.str();
        break;
      case 4:
        m.eventId = r.str();
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
        m.targets.push(r.str());
        break;
      case 10:
        m.osType = r.str();
        break;
      case 11: {
        const pair = r.nested(readNamePair);
        if (pair) m.namePairs.push(pair);
        break;
      }
      case 12:
        if (m.content) r.bad = true;
        else {
          const content = r.nested(readContent);
          if (content) m.content = content;
        }
        break;
      case 13:
        if (m.payload) r.bad = true;
        else {
          const payload = r.nested(readValue);
          if (payload) m.payload = payload;
        }
        break;
      case 14:
        if (m.time) r.bad = true;
        else {
          const time = r.nested(readTimestamp);
          if (time) m.time = time;
        }
        break;
      case 15:
        m.requestId = r.str();
        break;
      default:
        r.bad = true;
    }
  }
  return r.bad ? undefined : m;
}
