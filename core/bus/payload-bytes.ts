import { toBinary } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { encodeValue } from "../wire/encode-value.js";

const encoded = new WeakMap<Value, Uint8Array>();

/**
 * A JSON payload's protobuf encoding, made once per Value object: a send measures it (the size
 * limit) and then writes it into the envelope. Payloads are not changed after they are received.
 */
export function payloadBytes(payload: Value): Uint8Array {
  let bytes = encoded.get(payload);
  if (!bytes) encoded.set(payload, (bytes = encodeValue(payload) ?? toBinary(ValueSchema, payload)));
  return bytes;
}
