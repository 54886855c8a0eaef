import type { Timestamp } from "@bufbuild/protobuf/wkt";

// Timestamps made on every send: literals rather than `create`, which walks the descriptor to
// build a zero message first. A literal with every field is the same message.

/** A Timestamp of these fields. */
export function timestamp(seconds: bigint, nanos: number): Timestamp {
  return { $typeName: "google.protobuf.Timestamp", seconds, nanos };
}

/** The current time, as protobuf-es's timestampNow. */
export function timestampNow(): Timestamp {
  const ms = Date.now();
  return timestamp(BigInt(Math.floor(ms / 1000)), (ms % 1000) * 1_000_000);
}

/** A copy of a timestamp. */
export function copyTimestamp(t: Timestamp): Timestamp {
  return timestamp(t.seconds, t.nanos);
}
