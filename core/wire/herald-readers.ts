import type { Timestamp, Value } from "@bufbuild/protobuf/wkt";
import type { Content, NamePair, SubscriberRef } from "../gen/herald/v1/event_pb.js";
import { I64, LEN, type ProtoReader, VARINT } from "./proto-reader.js";

/**
 * Readers of the small messages that requests and events share, for the hand-written decoders
 * (core/hub/send-request-decoder.ts, core/hub/decode-event.ts). Each reads fields until the reader
 * is done and marks it bad on anything fromBinary would read differently.
 */
export function readSubscriberRef(r: ProtoReader): SubscriberRef {
  const m: SubscriberRef = { $typeName: "herald.v1.SubscriberRef", ref: { case: undefined } };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (wire !== LEN) r.bad = true;
    else if (no === 1) m.ref = { case: "ksid", value: r.str() };
    else if (no === 2) m.ref = { case: "ufid", value: r.str() };
    else if (no === 3) m.ref = { case: "deviceId", value: r.str() };
    else r.bad = true;
  }
  return m;
}

export function readNamePair(r: ProtoReader): NamePair {
  const m: NamePair = { $typeName: "herald.v1.NamePair", name: "", content: "" };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (wire !== LEN) r.bad = true;
    else if (no === 1) m.name = r.str();
    else if (no === 2) m.content = r.str();
    else r.bad = true;
  }
  return m;
}

export function readContent(r: ProtoReader): Content {
  const m: Content = { $typeName: "herald.v1.Content", mimeType: "", data: "", priority: false };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (no === 1 && wire === LEN) m.mimeType = r.str();
    else if (no === 2 && wire === LEN) m.data = r.str();
    else if (no === 3 && wire === VARINT) m.priority = r.varint() !== 0;
    else r.bad = true;
  }
  return m;
}

/** A scalar google.protobuf.Value (null, number, string, bool); a struct or list is left to fromBinary. */
export function readValue(r: ProtoReader): Value {
  const m: Value = { $typeName: "google.protobuf.Value", kind: { case: undefined } };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (no === 1 && wire === VARINT) {
      if (r.varint() === 0) m.kind = { case: "nullValue", value: 0 };
      else r.bad = true;
    } else if (no === 2 && wire === I64) m.kind = { case: "numberValue", value: r.double() };
    else if (no === 3 && wire === LEN) m.kind = { case: "stringValue", value: r.str() };
    else if (no === 4 && wire === VARINT) m.kind = { case: "boolValue", value: r.varint() !== 0 };
    else r.bad = true;
  }
  return m;
}

/** A Timestamp of non-negative seconds and nanos (negative ones are ten-byte varints: left to fromBinary). */
export function readTimestamp(r: ProtoReader): Timestamp {
  const m: Timestamp = { $typeName: "google.protobuf.Timestamp", seconds: 0n, nanos: 0 };
  while (!r.done && !r.bad) {
    const [no, wire] = r.tag();
    if (no === 1 && wire === VARINT) m.seconds = BigInt(r.varint());
    else if (no === 2 && wire === VARINT) {
      const nanos = r.varint();
      if (nanos > 0x7fffffff) r.bad = true;
      else m.nanos = nanos;
    } else r.bad = true;
  }
  return m;
}

/** The keys of a message's string fields. */
export type StringField<M> = { [K in keyof M]-?: M[K] extends string ? K : never }[keyof M];

/** Reads the string field that `fields` names for field number `no` into `m`; false when it names none. */
export function readStringField<M>(r: ProtoReader, m: M, fields: Readonly<Partial<Record<number, StringField<M>>>>, no: number): boolean {
  const key = fields[no];
  if (key === undefined) return false;
  (m as Record<StringField<M>, string>)[key] = r.str();
  return true;
}

/** Reads one element of a repeated message field onto `list`. */
export function readInto<T>(r: ProtoReader, list: T[], read: (r: ProtoReader) => T): void {
  const value = r.nested(read);
  if (value !== undefined) list.push(value);
}

/** Reads a singular message field into `m[key]`; given twice, fromBinary would merge the two: bad. */
export function readOnce<M, K extends keyof M>(r: ProtoReader, m: M, key: K, read: (r: ProtoReader) => NonNullable<M[K]>): void {
  if (m[key] !== undefined) {
    r.bad = true;
    return;
  }
  const value = r.nested(read);
  if (value !== undefined) m[key] = value;
}
