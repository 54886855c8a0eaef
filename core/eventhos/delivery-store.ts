import type { Action, Attempt, Contract, Execution, ReceivedEvent, ReceivedState } from "../gen/herald/v1/eventhos_pb.js";

/**
 * Actions, contracts, and the log of received events with their executions and attempts.
 *
 * Guarantees (test/suites/delivery-store-suite.ts checks them against every implementation):
 * - Values returned are copies. `listContracts(eventId)` finds an event's contracts, also after a
 *   contract moved to another event; "" lists all (as `listActions("")`).
 * - `createReceived` is idempotent by id: the first call stores the event and its executions and
 *   returns true; later calls change nothing and return false.
 * - `listReceived` returns the newest first, filtered by event, time range (inclusive) and state.
 * - Attempts are fenced, so that two instances never run the same attempt of an execution:
 *   `startAttempt` stores attempt n only if no attempt n exists (true), and `finishAttempt`
 *   replaces a started attempt once only: the first finish (result, or a takeover's
 *   "interrupted") wins, later ones return false.
 * - `getExecution` returns its attempts in number order.
 * - `setReceivedState` and `updateExecution` change a stored record only: on one that is missing (or
 *   expired) they create nothing.
 * - Received events, their executions and attempts are dropped `retentionMs` after they were received.
 * - When the backing service is unreachable, calls reject with an `UnavailableError`.
 */
export interface DeliveryStore {
  upsertAction(action: Action): Promise<Action>;
  getAction(id: string): Promise<Action | undefined>;
  listActions(appId: string): Promise<Action[]>;
  deleteAction(id: string): Promise<boolean>;

  upsertContract(contract: Contract): Promise<Contract>;
  getContract(id: string): Promise<Contract | undefined>;
  listContracts(eventId: string): Promise<Contract[]>;
  deleteContract(id: string): Promise<boolean>;

  createReceived(received: ReceivedEvent, executions: Execution[]): Promise<boolean>;
  getReceived(id: string): Promise<ReceivedEvent | undefined>;
  listReceived(filter: ReceivedFilter): Promise<ReceivedEvent[]>;
  setReceivedState(id: string, state: ReceivedState): Promise<void>;

  getExecution(id: string): Promise<Execution | undefined>;
  /** State and run start; the attempts are changed only through startAttempt / finishAttempt. */
  updateExecution(id: string, change: { state: Execution["state"]; runStart?: number }): Promise<void>;
  startAttempt(executionId: string, attempt: Attempt): Promise<boolean>;
  finishAttempt(executionId: string, attempt: Attempt): Promise<boolean>;

  close(): Promise<void>;
}

export interface ReceivedFilter {
  /** Only this client's records (an eventhos client reading its own log); undefined: everyone's. */
  clientId?: string;
  /** "" matches every event. */
  eventId: string;
  fromMs?: number;
  toMs?: number;
  /** UNSPECIFIED matches every state. */
  state: ReceivedState;
  limit: number;
}

export interface DeliveryStoreOptions {
  /** How long a received event and its execution log are kept (ms). */
  retentionMs: number;
}
