/**
 * A backing service (Redis) cannot answer now, or the component is closed: the call may be retried
 * later. Every bus, store and queue rejects with it; the RPC layer turns it into UNAVAILABLE.
 */
export class UnavailableError extends Error {
  override readonly name = "UnavailableError";
}
