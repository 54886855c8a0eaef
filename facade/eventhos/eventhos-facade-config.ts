/**
 * Codes a successful /event/send may answer: 200000 as the contract document says, or 20000 as
 * the original eventhos server answers (event.controller.ts `manageEvent`) and its published
 * tests assert.
 */
export const EVENTHOS_SUCCESS_CODES = [200000, 20000] as const;
export type EventhosSuccessCode = (typeof EVENTHOS_SUCCESS_CODES)[number];

/** The `eventhosFacade` section of the configuration: how the eventhos HTTP surface answers. */
export interface EventhosFacadeConfig {
  /**
   * `code` of a successful /event/send (its HTTP status stays 200). Only that reply differs: the
   * original answers 200310, its errors, /auth/token and the admin routes with six digits too.
   */
  successCode: EventhosSuccessCode;
  /** Failed /auth/token requests one remote address may make in a burst (then 429 until some refill). */
  tokenAddressFailureBurst: number;
  /** Time for one more failed token request of an address to be allowed (ms). */
  tokenAddressFailureRefillMs: number;
}

export const defaultEventhosFacadeConfig: EventhosFacadeConfig = {
  successCode: 200000,
  tokenAddressFailureBurst: 20,
  tokenAddressFailureRefillMs: 3_000,
};
