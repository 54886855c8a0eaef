import type { Timestamp } from "@bufbuild/protobuf/wkt";

// Timestamps made on every send: literals rather than `create`, which walks the descriptor to
// build a zero message first. A literal with every field is the same message.

/** The current time, as protobuf-es's timestampNow. */
export function timestampNow(): Timestamp {
  const ms = Date.now();
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A copy of a timestamp. */
export function copyTimestamp(t: Timestamp): Timestamp {
  return { $typeName: "google.protobuf.Timestamp", seconds: t.seconds, nanos: t.nanos };
}
