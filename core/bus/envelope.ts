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
  // Offsets and lengths stay far below 2^53: numbers are exact, and cheaper than bigint steps.
  let n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${value}`);
  let size = 1;
  for (let m = n; m >= 0x80; m = Math.floor(m / 0x80)) size++;
  const out = new Uint8Array(size);
  for (let i = 0; i < size - 1; i++) {
    out[i] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[size - 1] = n;
  return out;
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
