import type { DescMessage } from "@bufbuild/protobuf";

/** Decoders for hot request types, by message type; one returning undefined leaves the bytes to fromBinary. */
export type FastDecoders = ReadonlyMap<DescMessage, (bytes: Uint8Array) => unknown>;
