import type { ListValue, Struct, Value } from "@bufbuild/protobuf/wkt";
import { lenSize, ProtoWriter, VARINT } from "./proto-writer.js";

/** Wire type of a double (fixed 64 bits). */
const I64 = 1;

/**
 * A google.protobuf.Value (a JSON payload) in exactly the bytes toBinary writes, or undefined when
 * it holds what this does not write (unknown fields, a null_value other than 0): the caller then
 * uses toBinary. toBinary walks the message by reflection and forks a writer per nested message;
 * for a payload of a few fields that was ~9% of an embedded /event/send.
 *
 * Two walks in the same order: the first sizes every nested message (pre-order, into `sizes`),
 * the second writes into one buffer of the total size, taking the sizes in turn.
 */
export function encodeValue(value: Value): Uint8Array | undefined {
  const sizes: number[] = [];
  const size = sizeValue(value, sizes);
  if (size < 0) return undefined;
  const w = new ProtoWriter(size);
  writeValue(w, value, sizes, { at: 1 });
  return w.finish();
}

const plain = (m: { $unknown?: unknown[] | undefined }) => m.$unknown === undefined || m.$unknown.length === 0;

/** The bytes of a Value's fields; -1: not ours to write. Its own size goes to `sizes` first. */
function sizeValue(v: Value, sizes: number[]): number {
  if (!plain(v)) return -1;
  const i = sizes.length;
  sizes.push(0);
  let n: number;
  const k = v.kind;
  switch (k.case) {
    case "nullValue":
      if (k.value !== 0) return -1;
      n = 2;
      break;
    case "numberValue":
      n = 9;
      break;
    case "stringValue":
      n = 1 + lenSize(Buffer.byteLength(k.value));
      break;
    case "boolValue":
      n = 2;
      break;
    case "structValue": {
      const c = sizeStruct(k.value, sizes);
      if (c < 0) return -1;
      n = 1 + lenSize(c);
      break;
    }
    case "listValue": {
      const c = sizeList(k.value, sizes);
      if (c < 0) return -1;
      n = 1 + lenSize(c);
      break;
    }
    default:
      n = 0;
  }
  sizes[i] = n;
  return n;
}

function sizeStruct(s: Struct, sizes: number[]): number {
  if (!plain(s)) return -1;
  const i = sizes.length;
  sizes.push(0);
  let n = 0;
  const fields = s.fields;
  for (const key of Object.keys(fields)) {
    // A map entry: key (1) and value (2), both always written.
    const e = sizes.length;
    sizes.push(0);
    const v = sizeValue(fields[key]!, sizes);
    if (v < 0) return -1;
    const entry = 1 + lenSize(Buffer.byteLength(key)) + 1 + lenSize(v);
    sizes[e] = entry;
    n += 1 + lenSize(entry);
  }
  sizes[i] = n;
  return n;
}

function sizeList(l: ListValue, sizes: number[]): number {
  if (!plain(l)) return -1;
  const i = sizes.length;
  sizes.push(0);
  let n = 0;
  for (const item of l.values) {
    const v = sizeValue(item, sizes);
    if (v < 0) return -1;
    n += 1 + lenSize(v);
  }
  sizes[i] = n;
  return n;
}

/** `next.at` walks `sizes` in the order the sizing pushed them; the root Value's own size (0) is skipped. */
function writeValue(w: ProtoWriter, v: Value, sizes: number[], next: { at: number }): void {
  const k = v.kind;
  switch (k.case) {
    case "nullValue":
      w.tag(1, VARINT);
      w.varint(0);
      break;
    case "numberValue":
      w.tag(2, I64);
      w.double(k.value);
      break;
    case "stringValue":
      w.str(3, k.value, true);
      break;
    case "boolValue":
      w.tag(4, VARINT);
      w.varint(k.value ? 1 : 0);
      break;
    case "structValue": {
      w.nested(5, sizes[next.at++]!);
      const fields = k.value.fields;
      for (const key of Object.keys(fields)) {
        w.nested(1, sizes[next.at++]!);
        w.str(1, key, true);
        w.nested(2, sizes[next.at++]!);
        writeValue(w, fields[key]!, sizes, next);
      }
      break;
    }
    case "listValue":
      w.nested(6, sizes[next.at++]!);
      for (const item of k.value.values) {
        w.nested(1, sizes[next.at++]!);
        writeValue(w, item, sizes, next);
      }
      break;
  }
}
