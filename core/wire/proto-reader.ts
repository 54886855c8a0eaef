/**
 * Protobuf wire format read by hand, for the few requests decoded on every send (SendEvent and the
 * batches). A reader never throws on what it does not expect: it reports `false` / `undefined`,
 * and its user hands the bytes to fromBinary, which decodes them (or explains what is wrong) as
 * before. So only well-formed, ordinary messages take the fast path.
 */
export { LEN, VARINT } from "./proto-writer.js";
/** Wire type of a 64-bit fixed field (a double here); the writer writes none. */
export const I64 = 1;

const strict = new TextDecoder("utf-8", { fatal: true });

export class ProtoReader {
  readonly buf: Buffer;
  pos = 0;
  end: number;
  /** Set once anything was not as expected; every later read is meaningless. */
  bad = false;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.length;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint of at most 53 bits (larger ones, longer ones, or one running past the end: bad). */
  varint(): number {
    const buf = this.buf;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) break;
      const b = buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        // Past 2^53 the sum is no longer exact (and rounds to at least 2^53): left to fromBinary.
        if (n > Number.MAX_SAFE_INTEGER) break;
        return n;
      }
      scale *= 0x80;
    }
    this.bad = true;
    return 0;
  }

  /** The bounds of a length-delimited field's content, or undefined (bad) if it runs past the end. */
  len(): [number, number] | undefined {
    const n = this.varint();
    const start = this.pos;
    if (this.bad || n > this.end - start) {
      this.bad = true;
      return undefined;
    }
    this.pos = start + n;
    return [start, start + n];
  }

  /** A string field's text: valid UTF-8 only (proto3 strings are checked), else bad. */
  str(): string {
    const at = this.len();
    if (!at) return "";
    const [start, end] = at;
    const buf = this.buf;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return buf.toString("latin1", start, end);
    try {
      return strict.decode(buf.subarray(start, end));
    } catch {
      this.bad = true;
      return "";
    }
  }

  /** A little-endian double (wire type I64). */
  double(): number {
    if (this.end - this.pos < 8) {
      this.bad = true;
      return 0;
    }
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /**
   * Reads a nested message (a length-delimited field) with `read`, which reads fields until `done`;
   * undefined (bad) when its bounds or its content are wrong.
   */
  nested<T>(read: (r: ProtoReader) => T): T | undefined {
    const at = this.len();
    if (!at) return undefined;
    const outer = this.end;
    this.pos = at[0];
    this.end = at[1];
    const value = read(this);
    if (this.pos !== at[1]) this.bad = true;
    this.end = outer;
    return this.bad ? undefined : value;
  }

  /** The next field's number and wire type; [0, 0] (bad) for a tag no protobuf field has. */
  tag(): [number, number] {
    const tag = this.varint();
    if (tag < 8 || tag > 0xffffffff) {
      this.bad = true;
      return [0, 0];
    }
    return [tag >>> 3, tag & 7];
  }
}
