import { varintSize } from "../wire/proto-writer.js";
import { pooledBytes } from "../wire/pooled-bytes.js";

/**
 * Appends `msg_id` (field 1, string) and `offset` (field 2, varint) to an encoded Event. The Redis
 * bus does the same in Lua; both must produce identical bytes.
 */
const utf8 = new TextEncoder();

/** Where the bytes of a message go: bytes on their way by default; a store that keeps them gives its own. */
export type Allocate = (size: number) => Uint8Array;

export function appendIds(envelope: Uint8Array, msgId: string, offset: bigint, alloc: Allocate = pooledBytes): Uint8Array {
  let n = Number(offset);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${offset}`);
  // A msg id is digits: written a byte per character, without an encoder's call and array per send.
  if (!DIGITS.test(msgId)) return appendEncodedIds(envelope, utf8.encode(msgId), offset, alloc);
  const out = alloc(envelope.length + 2 + msgId.length + 1 + varintSize(n));
  out.set(envelope, 0);
  let i = envelope.length;
  out[i++] = 0x0a;
  out[i++] = msgId.length;
  for (let k = 0; k < msgId.length; k++) out[i++] = msgId.charCodeAt(k);
  out[i++] = 0x10;
  while (n >= 0x80) {
    out[i++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[i] = n;
  return out;
}

/** Up to 127 ASCII digits: their length is one byte. */
const DIGITS = /^[0-9]{1,127}$/;

function appendEncodedIds(envelope: Uint8Array, id: Uint8Array, offset: bigint, alloc: Allocate): Uint8Array {
  const len = varint(BigInt(id.length));
  const off = varint(offset);
  const out = alloc(envelope.length + 1 + len.length + id.length + 1 + off.length);
  out.set(envelope, 0);
  let i = envelope.length;
  out[i++] = 0x0a;
  out.set(len, i);
  i += len.length;
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
  let n = message.length;
  const out = pooledBytes(1 + varintSize(n) + n);
  let i = 0;
  out[i++] = 0x0a;
  while (n >= 0x80) {
    out[i++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[i++] = n;
  out.set(message, i);
  return out;
}
