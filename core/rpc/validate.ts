import type { Value } from "@bufbuild/protobuf/wkt";
import { payloadBytes } from "../bus/payload-bytes.js";
import type { Limits } from "./limits.js";
import type { Content, NamePair, SubscriberRef } from "../gen/herald/v1/event_pb.js";
import { invalidArgument } from "./errors.js";
import { jsonProblem } from "./jsonable-value.js";

/**
 * The characters of an id that reaches a Redis key (core/redis/keys.ts): ASCII letters, digits and
 * `- _ . @ ~ + =`. Enough for numeric ksids, UUIDs, e-mail-like ufids and base64url ids; it leaves
 * out `:` (the key separator), `{` `}` (the hash tag that picks the slot), `*?[]\` (glob), white
 * space, control characters (NUL separates device id and ufid in a field) and anything non-ASCII.
 */
const ID = /^[A-Za-z0-9_.@~+=-]+$/;
export const ID_CHARACTERS = "letters, digits and - _ . @ ~ + =";

/** Checks of request fields against the configured limits; each throws INVALID_ARGUMENT. */
const IDEMPOTENCY_KEY = /^[!-~]*$/;

export class Validator {
  constructor(private readonly limits: Limits) {
    // A request is one bus batch: at most MAX_BATCH (core/bus/bus.ts) envelopes.
    if (!Number.isSafeInteger(limits.maxPushMessages) || limits.maxPushMessages < 1 || limits.maxPushMessages > 10_000) {
      throw new RangeError(`maxPushMessages must be 1 to 10000, got ${limits.maxPushMessages}`);
    }
    if (!Number.isSafeInteger(limits.idempotencyWindowMs) || limits.idempotencyWindowMs < 1) {
      throw new RangeError(`idempotencyWindowMs must be a positive integer, got ${limits.idempotencyWindowMs}`);
    }
  }

  /** A message field the request must carry. */
  present<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw invalidArgument(`${name} is required`);
    return value;
  }

  required(name: string, value: string): string {
    if (value === "") throw invalidArgument(`${name} is required`);
    return this.short(name, value);
  }

  /**
   * An id that is (or may be) part of a Redis key: required, at most maxFieldLength, and only
   * `ID_CHARACTERS`, so that it can never name another key (issue 13).
   */
  id(name: string, value: string): string {
    this.required(name, value);
    if (!ID.test(value)) throw invalidArgument(`${name} may contain only ${ID_CHARACTERS}`);
    return value;
  }

  /** `id`, or empty when the field is optional. */
  optionalId(name: string, value: string): string {
    return value === "" ? value : this.id(name, value);
  }

  /**
   * An idempotency key: printable ASCII (no space), at most maxFieldLength, empty for none. The bus
   * hashes it before it names a Redis key, so the charset is for clean logs and headers, not safety.
   */
  idempotencyKey(name: string, value: string): string {
    this.short(name, value);
    if (!IDEMPOTENCY_KEY.test(value)) throw invalidArgument(`${name} may contain only printable ASCII characters (! to ~)`);
    return value;
  }

  /** How many pushes one request may carry: 1 to maxPushMessages. */
  pushCount(name: string, count: number): void {
    if (count === 0) throw invalidArgument(`${name} is required`);
    if (count > this.limits.maxPushMessages) throw invalidArgument(`more than ${this.limits.maxPushMessages} ${name}`);
  }

  short(name: string, value: string): string {
    if (value.length > this.limits.maxFieldLength) {
      throw invalidArgument(`${name} is longer than ${this.limits.maxFieldLength} characters`);
    }
    return value;
  }

  subscribers(refs: readonly SubscriberRef[]): void {
    if (refs.length > this.limits.maxSubscribers) {
      throw invalidArgument(`more than ${this.limits.maxSubscribers} subscribers`);
    }
    // Names of fields are built only for an error: this runs on every send.
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!.ref;
      if (ref.case === undefined || ref.value === "") {
        throw invalidArgument(`subscribers[${i}] names no ksid, ufid or device_id`);
      }
      if (ref.value.length > this.limits.maxFieldLength || !ID.test(ref.value)) this.id(`subscribers[${i}].${ref.case}`, ref.value);
    }
  }

  namePairs(pairs: readonly NamePair[]): void {
    if (pairs.length > this.limits.maxNamePairs) {
      throw invalidArgument(`more than ${this.limits.maxNamePairs} name pairs`);
    }
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i]!;
      if (p.name === "" || p.name.length > this.limits.maxFieldLength) this.required(`name_pairs[${i}].name`, p.name);
      // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
      if (p.content.length * 3 > this.limits.maxContentBytes && Buffer.byteLength(p.content) > this.limits.maxContentBytes) {
        throw invalidArgument(`name_pairs[${i}].content is larger than ${this.limits.maxContentBytes} bytes`);
      }
    }
  }

  content(content: Content | undefined): void {
    if (!content) return;
    this.short("content.mime_type", content.mimeType);
    if (content.data.length * 3 > this.limits.maxContentBytes && Buffer.byteLength(content.data) > this.limits.maxContentBytes) {
      throw invalidArgument(`content.data is larger than ${this.limits.maxContentBytes} bytes`);
    }
  }

  payload(payload: Value | undefined): void {
    if (!payload) return;
    if (payloadBytes(payload).length > this.limits.maxPayloadBytes) {
      throw invalidArgument(`payload is larger than ${this.limits.maxPayloadBytes} bytes`);
    }
    // Kept, it would fail every reader that writes it as JSON (Connect-JSON WatchEvents, the eventhos log).
    const problem = jsonProblem(payload);
    if (problem) throw invalidArgument(`payload holds ${problem}: it must be valid JSON`);
  }

  /** The parts SendEvent and SendPush share. */
  message(m: {
    subscribers: readonly SubscriberRef[];
    namePairs: readonly NamePair[];
    content?: Content | undefined;
    payload?: Value | undefined;
    type: string;
    resourceType: string;
    resourceId: string;
  }): void {
    this.subscribers(m.subscribers);
    this.namePairs(m.namePairs);
    this.content(m.content);
    this.routing(m);
    this.payload(m.payload);
  }

  /** An event handler's subscriptions: each routing attribute short, at most the configured count. */
  handlerSubscriptions(subs: readonly { type: string; resourceType: string; resourceId: string }[]): void {
    if (subs.length > this.limits.maxHandlerSubscriptions) {
      throw invalidArgument(`more than ${this.limits.maxHandlerSubscriptions} subscriptions`);
    }
    for (const s of subs) this.routing(s);
  }

  get maxHandlersPerApp(): number {
    return this.limits.maxHandlersPerApp;
  }

  get maxHandlerSubscriptions(): number {
    return this.limits.maxHandlerSubscriptions;
  }

  routing(r: { type: string; resourceType: string; resourceId: string }): void {
    this.short("type", r.type);
    this.short("resource_type", r.resourceType);
    this.short("resource_id", r.resourceId);
  }
}
