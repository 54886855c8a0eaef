import type { DescMessage } from "@bufbuild/protobuf";

/** Encoders for hot response types, by message type; one returning undefined leaves it to toBinary. */
export type FastEncoders = ReadonlyMap<DescMessage, (message: unknown) => Uint8Array | undefined>;
