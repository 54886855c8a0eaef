import type { Context } from "koa";

/**
 * The reply codes of eventhos-event-send.txt, with the document's descriptions as messages
 * (the document gives only "success" verbatim), plus the codes Herald adds for what the document
 * leaves out. Each code's first three digits are its HTTP status.
 */
export const CODES = {
  SUCCESS: { code: 200000, message: "success" },
  NO_CONTRACTS: { code: 200310, message: "Success, but no contracts exists for this event" },
  INCORRECT_TOKEN: { code: 401202, message: "Incorrect token" },
  IDENTIFIER_REQUIRED: { code: 400201, message: "event-identifier is required" },
  CANNOT_GENERATE_TOKEN: { code: 400011, message: "Client can not generate short live token" },
  EVENT_NOT_FOUND: { code: 400024, message: "The event does not exist." },
  CLIENT_NOT_FOUND: { code: 400004, message: "Client or user not found" },
  NOT_CATEGORIZED: { code: 500000, message: "Not categorized error" },
  // Not in the document: malformed input and the admin surface.
  INVALID_JSON: { code: 400001, message: "Body is not valid json" },
  INVALID_REQUEST: { code: 400000, message: "Invalid request" },
  TOO_LARGE: { code: 413001, message: "Body is too large" },
  UNSUPPORTED_TYPE: { code: 415001, message: "Content-Type must be application/json" },
  NOT_FOUND: { code: 404001, message: "Not found" },
  METHOD_NOT_ALLOWED: { code: 405001, message: "Method not allowed" },
  RUNNING: { code: 409001, message: "Execution is queued or running" },
  IDEMPOTENCY_KEY_REUSED: { code: 409002, message: "Idempotency-Key already used for a different request" },
  INVALID_IDEMPOTENCY_KEY: { code: 400002, message: "Idempotency-Key must be at most 256 printable ASCII characters" },
  TOO_MANY_ATTEMPTS: { code: 429001, message: "Too many failed token requests, retry later" },
  BUSY: { code: 503001, message: "Too many token requests at once, retry shortly" },
} as const;

export type Reply = { code: number; message: string };

/** A successful /event/send: the document's 200000, or the original server's 20000 (EventhosFacadeConfig). */
export const sendSuccess = (code: number): Reply => ({ code, message: CODES.SUCCESS.message });

/**
 * Answers `{"code","message"}` (plus `content` on admin successes) with the code's HTTP status:
 * its first three digits (20000, the original's success, is 200 too).
 */
export function reply(ctx: Context, r: Reply, content?: unknown, detail?: string): void {
  ctx.status = Number(String(r.code).slice(0, 3));
  // What `ctx.type = "application/json"` sets, without its MIME lookup on every reply.
  ctx.set("Content-Type", "application/json; charset=utf-8");
  ctx.body = {
    code: r.code,
    message: detail ? `${r.message}: ${detail}` : r.message,
    ...(content === undefined ? {} : { content }),
  };
}
