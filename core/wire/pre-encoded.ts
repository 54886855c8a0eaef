/**
 * Binary encodings already known for a message object. Fan-out builds one response object per
 * event and records its bytes here, so a transport that writes it to many streams serialises it
 * once, not once per stream. The bytes are a property of the message itself, under a symbol and not
 * enumerable (comparisons and protobuf-es's reflection do not see it), so they go away with it: a
 * WeakMap did the same at ~3x the cost per event (measured), and more work for the collector.
 */
const ENCODED = Symbol("herald.encoded");

type Encoded = { [ENCODED]?: Uint8Array };

export function setEncoded(message: object, bytes: Uint8Array): void {
  Object.defineProperty(message, ENCODED, { value: bytes, configurable: true });
}

export function getEncoded(message: object): Uint8Array | undefined {
  return (message as Encoded)[ENCODED];
}
