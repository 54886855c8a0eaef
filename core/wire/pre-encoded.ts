/**
 * Binary encodings already known for a message object. Fan-out builds one response object per
 * event and records its bytes here, so a transport that writes it to many streams serialises it
 * once, not once per stream. Weak: entries go away with the message.
 */
const encodings = new WeakMap<object, Uint8Array>();

export function setEncoded(message: object, bytes: Uint8Array): void {
  encodings.set(message, bytes);
}

export function getEncoded(message: object): Uint8Array | undefined {
  return encodings.get(message);
}
