import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../gen/herald/v1/event_pb.js";
import { makeJsonable } from "../rpc/jsonable-value.js";
import type { Logger } from "../logger.js";

/**
 * Decodes an event of the bus. A payload stored before such values were refused (a non-finite
 * number, a lone surrogate) is rewritten so that it can be written as JSON: otherwise a
 * Connect-JSON watcher's stream would end on it, on every replay, for as long as history keeps it.
 */
export function decodeEvent(message: Uint8Array, logger: Logger): Event {
  const event = fromBinary(EventSchema, message);
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
