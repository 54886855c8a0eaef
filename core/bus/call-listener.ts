import type { BusListener } from "./bus.js";

/** Calls a listener; what it throws or rejects goes to `failed`, never to the bus (nor the other listeners). */
export function callListener(listener: BusListener, message: Uint8Array, failed: (err: unknown) => void): void {
  try {
    const result: unknown = listener(message);
    if (result instanceof Promise) result.catch(failed);
  } catch (err) {
    failed(err);
  }
}
