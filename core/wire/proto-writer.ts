/**
 * Protobuf wire format written by hand, for the few messages encoded on every send (the Event
 * envelope, the status record, the SendEvent reply). Each user sizes its message first, then
 * writes it into one buffer of exactly that size; each is tested byte for byte against toBinary.
 * The size helpers count a one-byte tag (fields below 16); varints are non-negative numbers up to 2^53.
 */
export const VARINT = 0;
export const LEN = 2;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** A length prefix and what it prefixes. */
export function lenSize(n: number): number {
  return varintSize(n) + n;
}

/** A string field as proto3 writes it: nothing when empty, else tag, length and UTF-8. */
export function strSize(value: string): number {
  return value === "" ? 0 : 1 + lenSize(Buffer.byteLength(value));
}

/** A varint field: nothing when zero. */
export function varintFieldSize(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n);
}

export class ProtoWriter {
  private readonly out: Buffer;
  private at = 0;

  constructor(private readonly size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  varint(n: number): void {
    const out = this.out;
    while (n >= 0x80) {
      out[this.at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    out[this.at++] = n;
  }

  /** A string field; empty ones are left out unless `always` (repeated strings keep them). */
  str(field: number, value: string, always = false): void {
    if (value === "" && !always) return;
    this.tag(field, LEN);
    const n = Buffer.byteLength(value);
    this.varint(n);
    this.at += this.out.write(value, this.at, n, "utf8");
  }

  /** A double's 8 bytes, little-endian (the caller writes the tag: a oneof member is written even when 0). */
  double(value: number): void {
    this.at = this.out.writeDoubleLE(value, this.at);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(value.length);
    this.out.set(value, this.at);
    this.at += value.length;
  }

  /** A varint field; zero is left out. */
  varintField(field: number, n: number): void {
    if (n === 0) return;
    this.tag(field, VARINT);
    this.varint(n);
  }

  /** The header of a nested message of `length` bytes, which the caller writes next. */
  nested(field: number, length: number): void {
    this.tag(field, LEN);
    this.varint(length);
  }

  finish(): Uint8Array {
    if (this.at !== this.size) throw new Error(`ProtoWriter: wrote ${this.at} of ${this.size} bytes`);
    return new Uint8Array(this.out.buffer, this.out.byteOffset, this.size);
  }
}
