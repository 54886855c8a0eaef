import { create, toBinary } from "@bufbuild/protobuf";
import type { Timestamp, Value } from "@bufbuild/protobuf/wkt";
import { payloadBytes } from "./payload-bytes.js";
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

const LEN = 2; // wire type: length-delimited
const VARINT = 0;

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
  let size = strSize(e.appId) + strSize(e.eventId) + (e.kind !== 0 ? 1 + varintSize(e.kind) : 0);
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
  const timeSize = (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (e.time.nanos !== 0 ? 1 + varintSize(e.time.nanos) : 0);
  size += 1 + lenSize(timeSize);
  size += e.requestId !== "" ? 1 + lenSize(Buffer.byteLength(e.requestId)) : 0;
  if (change) size += 2 + lenSize(change.length);

  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const tag = (field: number, wire: number) => {
    at = writeVarint(out, at, (field << 3) | wire);
  };
  const str = (field: number, value: string) => {
    if (value === "") return;
    tag(field, LEN);
    const n = Buffer.byteLength(value);
    at = writeVarint(out, at, n);
    at += out.write(value, at, n, "utf8");
  };
  const bytes = (field: number, value: Uint8Array) => {
    tag(field, LEN);
    at = writeVarint(out, at, value.length);
    out.set(value, at);
    at += value.length;
  };

  str(3, e.appId);
  str(4, e.eventId);
  if (e.kind !== 0) {
    tag(5, VARINT);
    at = writeVarint(out, at, e.kind);
  }
  str(6, e.type);
  str(7, e.resourceType);
  str(8, e.resourceId);
  for (const t of e.targets) {
    // Repeated strings are written even when empty.
    tag(9, LEN);
    const n = Buffer.byteLength(t);
    at = writeVarint(out, at, n);
    at += out.write(t, at, n, "utf8");
  }
  str(10, e.osType);
  e.namePairs.forEach((p, i) => {
    tag(11, LEN);
    at = writeVarint(out, at, pairSizes[i]!);
    str(1, p.name);
    str(2, p.content);
  });
  if (content) {
    tag(12, LEN);
    at = writeVarint(out, at, contentSize);
    str(1, content.mimeType);
    str(2, content.data);
    if (content.priority) {
      tag(3, VARINT);
      out[at++] = 1;
    }
  }
  if (payload) bytes(13, payload);
  tag(14, LEN);
  at = writeVarint(out, at, timeSize);
  if (seconds !== 0) {
    tag(1, VARINT);
    at = writeVarint(out, at, seconds);
  }
  if (e.time.nanos !== 0) {
    tag(2, VARINT);
    at = writeVarint(out, at, e.time.nanos);
  }
  str(15, e.requestId);
  if (change) bytes(16, change);
  if (at !== size) throw new Error(`encodeEvent: wrote ${at} of ${size} bytes`);
  return new Uint8Array(out.buffer, out.byteOffset, size);
}

function strSize(value: string): number {
  return value === "" ? 0 : 1 + lenSize(Buffer.byteLength(value));
}

/** A length prefix and what it prefixes. */
function lenSize(n: number): number {
  return varintSize(n) + n;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** A non-negative integer up to 2^53 as a varint. */
function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}
