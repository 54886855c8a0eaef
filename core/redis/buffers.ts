/** A Buffer's bytes as a Uint8Array, without copying (protobuf-es reads Uint8Array). */
export const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A Uint8Array as a Buffer, without copying (ioredis writes Buffers as they are). */
export const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
