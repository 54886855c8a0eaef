/**
 * Appends `msg_id` (field 1, string) and `offset` (field 2, varint) to an encoded Event. The Redis
 * bus does the same in Lua; both must produce identical bytes.
 */
const ascii = new TextEncoder();

export function appendIds(envelope: Uint8Array, msgId: string, offset: bigint): Uint8Array {
  const id = ascii.encode(msgId);
  const off = varint(offset);
  const out = new Uint8Array(envelope.length + 2 + id.length + 1 + off.length);
  out.set(envelope, 0);
  let i = envelope.length;
  out[i++] = 0x0a;
  out[i++] = id.length; // a numeric id is far below 128 bytes
  out.set(id, i);
  i += id.length;
  out[i++] = 0x10;
  out.set(off, i);
  return out;
}

export function varint(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Uint8Array.from(bytes);
}

/** Wraps an encoded message as field 1 of an enclosing message (e.g. WatchEventsResponse.event). */
export function wrapField1(message: Uint8Array): Uint8Array {
  const len = varint(BigInt(message.length));
  const out = new Uint8Array(1 + len.length + message.length);
  out[0] = 0x0a;
  out.set(len, 1);
  out.set(message, 1 + len.length);
  return out;
}
