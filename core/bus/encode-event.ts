import { create, toBinary } from "@bufbuild/protobuf";
import type { Timestamp, Value } from "@bufbuild/protobuf/wkt";
import { payloadBytes } from "./payload-bytes.js";
import { lenSize, ProtoWriter, strSize, varintFieldSize } from "../wire/proto-writer.js";
import { HandlerChangeSchema, type HandlerChange } from "../gen/herald/v1/handler_pb.js";
import { EventSchema, type Content, type EventKind, type NamePair } from "../gen/herald/v1/event_pb.js";

/** Every field of an Event the core sets when it publishes (msg_id and offset are the bus's). */
export interface EventFields {
  appId: string;
  eventId: string;
  kind: EventKind;
  type: string;
  resourceType: string;
  resourceId: string;
  targets: readonly string[];
  osType: string;
  namePairs: readonly NamePair[];
  content?: Content | undefined;
  payload?: Value | undefined;
  time: Timestamp;
  requestId: string;
  handlerChange?: HandlerChange | undefined;
}

/**
 * Encodes an Event straight from its fields, on the path of every publish: the same bytes as
 * `toBinary(EventSchema, create(EventSchema, fields))` (proto3: defaults omitted, fields in number
 * order; test/units compares both on generated events), in one buffer sized up front, without
 * building the message or walking its descriptor (measured: ~5x faster). The nested Value and
 * HandlerChange, rare, are encoded by toBinary.
 */
export function encodeEvent(e: EventFields): Uint8Array {
  // Varints here are written from numbers: a time before 1970 (negative) takes the general path.
  if (e.time.seconds < 0n || e.time.nanos < 0 || e.kind < 0) {
    return toBinary(EventSchema, create(EventSchema, e as Parameters<typeof create<typeof EventSchema>>[1]));
  }
  const payload = e.payload ? payloadBytes(e.payload) : undefined;
  const change = e.handlerChange ? toBinary(HandlerChangeSchema, e.handlerChange) : undefined;
  const seconds = Number(e.time.seconds);

  // Sizes first (UTF-8 byte lengths), then one allocation.
  let size = strSize(e.appId) + strSize(e.eventId) + varintFieldSize(e.kind);
  size += strSize(e.type) + strSize(e.resourceType) + strSize(e.resourceId);
  for (const t of e.targets) size += 1 + lenSize(Buffer.byteLength(t));
  size += strSize(e.osType);
  const pairSizes: number[] = [];
  for (const p of e.namePairs) {
    const inner = strSize(p.name) + strSize(p.content);
    pairSizes.push(inner);
    size += 1 + lenSize(inner);
  }
  const content = e.content;
  const contentSize = content ? strSize(content.mimeType) + strSize(content.data) + (content.priority ? 2 : 0) : 0;
  if (content) size += 1 + lenSize(contentSize);
  if (payload) size += 1 + lenSize(payload.length);
  const timeSize = varintFieldSize(seconds) + varintFieldSize(e.time.nanos);
  size += 1 + lenSize(timeSize);
  size += strSize(e.requestId);
  if (change) size += 2 + lenSize(change.length);

  const w = new ProtoWriter(size);
  w.str(3, e.appId);
  w.str(4, e.eventId);
  w.varintField(5, e.kind);
  w.str(6, e.type);
  w.str(7, e.resourceType);
  w.str(8, e.resourceId);
  for (const t of e.targets) w.str(9, t, true);
  w.str(10, e.osType);
  e.namePairs.forEach((p, i) => {
    w.nested(11, pairSizes[i]!);
    w.str(1, p.name);
    w.str(2, p.content);
  });
  if (content) {
    w.nested(12, contentSize);
    w.str(1, content.mimeType);
    w.str(2, content.data);
    w.varintField(3, content.priority ? 1 : 0);
  }
  if (payload) w.bytes(13, payload);
  w.nested(14, timeSize);
  w.varintField(1, seconds);
  w.varintField(2, e.time.nanos);
  w.str(15, e.requestId);
  if (change) w.bytes(16, change); // field 16: a two-byte tag, counted above
  return w.finish();
}
