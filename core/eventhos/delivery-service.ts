import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import {
  ActionSchema,
  ContractSchema,
  type DeliveryService,
  ExecutionSchema,
  ExecutionState,
  ReceivedEventSchema,
  ReceivedState,
  type Execution,
  type ReceivedEvent,
} from "../gen/herald/v1/eventhos_pb.js";
import type { RegistryStore } from "../store/registry-store.js";
import type { DeliveryStore } from "./delivery-store.js";
import type { WorkQueue } from "../queue/work-queue.js";
import { appNotFound, eventNotFound, found, heraldError, invalidArgument, notFound } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";
import type { Authorize } from "./authorize.js";
import { principalOf } from "../auth/principal.js";
import { redactAction, REDACTED, isSecretHeader } from "./secret-headers.js";
import { makeJsonable } from "../rpc/jsonable-value.js";
import type { Logger } from "../logger.js";

export interface DeliveryServiceDeps {
  registry: RegistryStore;
  delivery: DeliveryStore;
  queue: WorkQueue;
  validator: Validator;
  /** The access-key check of ClientService.Authorize (createAuthorizer). */
  authorize: Authorize;
  logger: Logger;
}

export const ACTION_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const MAX_TEMPLATE_BYTES = 64 * 1024;
const MAX_LIST = 1000;
const MAX_SECRET_HEADERS = 64;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;

/** Actions, contracts, receiving events into the delivery queue, and the execution log. */
export function createDeliveryService(deps: DeliveryServiceDeps): ServiceImpl<typeof DeliveryService> {
  const { registry, delivery, queue, validator: v, authorize, logger } = deps;

  /**
   * A received event as it may be written as JSON: a body stored before non-finite numbers and
   * lone surrogates were refused is repaired (null, U+FFFD), so that one old record cannot fail
   * the whole log for as long as it is kept.
   */
  function readable(r: ReceivedEvent): ReceivedEvent {
    if (r.body) {
      const fixed = makeJsonable(r.body);
      if (fixed.length > 0)
        logger.warn({ received: r.id, fixed }, "stored received event body was not valid JSON; shown with null / U+FFFD in its place");
    }
    return r;
  }

  async function execution(id: string): Promise<Execution> {
    return found(await delivery.getExecution(v.id("id", id)), "EXECUTION_NOT_FOUND", "execution", id);
  }

  /** The execution, if the caller may see it: an eventhos client sees those of its own received events only. */
  async function ownExecution(id: string, ctx: HandlerContext): Promise<Execution> {
    const e = await execution(id);
    if (ownerOf(ctx) !== undefined) {
      const received = await delivery.getReceived(e.receivedId);
      if (!received || !owns(ctx, received.clientId)) throw notFound("EXECUTION_NOT_FOUND", "execution", id);
    }
    return e;
  }

  return {
    async upsertAction(req) {
      const a = v.present("action", req.action);
      v.id("action.id", a.id);
      v.id("action.app_id", a.appId);
      v.short("action.name", a.name);
      a.method = a.method.toUpperCase() || "POST";
      if (!ACTION_METHODS.has(a.method)) throw invalidArgument(`action.method must be one of ${[...ACTION_METHODS].join(", ")}`);
      if (a.url.length > 4096) throw invalidArgument("action.url is longer than 4096 characters");
      let url: URL | undefined;
      try {
        url = new URL(a.url.replace(/\{\{[^{}]*\}\}/g, "x"));
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw invalidArgument("action.url must be an http(s) URL");
      for (const [k, val] of Object.entries(a.headers)) {
        v.required("action.headers name", k);
        if (val.length > 8192) throw invalidArgument(`action.headers.${k} is longer than 8192 characters`);
      }
      if (a.secretHeaders.length > MAX_SECRET_HEADERS)
        throw invalidArgument(`action.secret_headers lists more than ${MAX_SECRET_HEADERS} names`);
      a.secretHeaders = [
        ...new Set(
          a.secretHeaders.map((name, i) => {
            if (!HEADER_NAME.test(name)) throw invalidArgument(`action.secret_headers[${i}] is not a header name`);
            return name.toLowerCase();
          }),
        ),
      ];
      // Replies show secret values redacted: one sent back as is keeps the stored value.
      const old = await delivery.getAction(a.id);
      const stored = new Map(Object.entries(old?.headers ?? {}).map(([k, val]) => [k.toLowerCase(), val]));
      for (const [k, val] of Object.entries(a.headers)) {
        // Secret then or now: the mark came from a reply, not from the admin.
        if (val !== REDACTED || !isSecretHeader(k, [...a.secretHeaders, ...(old?.secretHeaders ?? [])])) continue;
        const kept = stored.get(k.toLowerCase());
        if (kept === undefined) throw invalidArgument(`action.headers.${k} is "${REDACTED}" but the action has no stored value for it`);
        a.headers[k] = kept;
      }
      if (Buffer.byteLength(a.bodyTemplate) > MAX_TEMPLATE_BYTES) throw invalidArgument("action.body_template is larger than 64 KiB");
      if (a.bodyTemplate !== "") {
        try {
          JSON.parse(a.bodyTemplate);
        } catch {
          throw invalidArgument("action.body_template must be JSON");
        }
      }
      if (!(await registry.getApp(a.appId))) throw appNotFound(a.appId);
      return { action: redactAction(await delivery.upsertAction(create(ActionSchema, a))) };
    },
    async getAction(req) {
      return { action: redactAction(found(await delivery.getAction(v.id("id", req.id)), "ACTION_NOT_FOUND", "action", req.id)) };
    },
    async listActions(req) {
      return { actions: (await delivery.listActions(v.optionalId("app_id", req.appId))).map(redactAction) };
    },
    async deleteAction(req) {
      if (!(await delivery.deleteAction(v.id("id", req.id)))) throw notFound("ACTION_NOT_FOUND", "action", req.id);
      return {};
    },

    async upsertContract(req) {
      const c = v.present("contract", req.contract);
      v.id("contract.id", c.id);
      v.id("contract.event_id", c.eventId);
      v.id("contract.action_id", c.actionId);
      v.short("contract.name", c.name);
      if (!(await registry.getEvent(c.eventId))) throw eventNotFound(c.eventId);
      if (!(await delivery.getAction(c.actionId))) throw notFound("ACTION_NOT_FOUND", "action", c.actionId);
      return { contract: await delivery.upsertContract(create(ContractSchema, c)) };
    },
    async getContract(req) {
      return { contract: found(await delivery.getContract(v.id("id", req.id)), "CONTRACT_NOT_FOUND", "contract", req.id) };
    },
    async listContracts(req) {
      return { contracts: await delivery.listContracts(v.optionalId("event_id", req.eventId)) };
    },
    async deleteContract(req) {
      if (!(await delivery.deleteContract(v.id("id", req.id)))) throw notFound("CONTRACT_NOT_FOUND", "contract", req.id);
      return {};
    },

    async receiveEvent(req) {
      const id = v.id("msg_id", req.msgId);
      v.optionalId("app_id", req.appId);
      v.id("event_id", req.eventId);
      v.optionalId("client_id", req.clientId);
      v.payload(req.body);
      // The same check as ClientService.Authorize: anyone reaching this port could otherwise
      // record events (and run their contracts) without a credential. The ids recorded are the
      // key's and the event's, never taken on the caller's word.
      const auth = await authorize(req.accessKey, req.eventId);
      if (req.clientId !== "" && req.clientId !== auth.clientId) {
        throw invalidArgument(`client_id "${req.clientId}" is not the access key's client`);
      }
      if (req.appId !== "" && req.appId !== auth.appId)
        throw invalidArgument(`app_id "${req.appId}" is not the app of event "${auth.eventId}"`);
      // A snapshot of the active contracts: later changes do not alter a received event's plan.
      const contracts = (await delivery.listContracts(auth.eventId)).filter((c) => c.active);
      const executions = contracts.map((c, i) =>
        create(ExecutionSchema, {
          id: `${id}-${i + 1}`,
          receivedId: id,
          contractId: c.id,
          actionId: c.actionId,
          order: c.order,
          state: ExecutionState.PENDING,
          runStart: 1,
        }),
      );
      const received = create(ReceivedEventSchema, {
        id,
        eventId: auth.eventId,
        appId: auth.appId,
        clientId: auth.clientId,
        time: timestampNow(),
        headers: req.headers,
        query: req.query,
        ...(req.body ? { body: req.body } : {}),
        state: executions.length > 0 ? ReceivedState.PENDING : ReceivedState.NO_CONTRACTS,
        executionIds: executions.map((e) => e.id),
      });
      // A repeat (the same msg id: a retry under an idempotency key) is told by createReceived, which
      // changes nothing then: it answers the first record's count, without a read on the common path.
      if (!(await delivery.createReceived(received, executions))) {
        const known = await delivery.getReceived(id);
        // Recording and queueing are two steps: a crash (or a failed queue) between them leaves a
        // pending record no job would ever run, and the client's retry lands here. Queue it again:
        // a job for work already running or done starts nothing (each attempt is recorded once).
        if (known?.state === ReceivedState.PENDING) await queue.add(id);
        return { receivedId: id, contracts: known?.executionIds.length ?? executions.length };
      }
      if (executions.length > 0) await queue.add(id);
      return { receivedId: id, contracts: executions.length };
    },
    async listReceivedEvents(req, ctx) {
      const limit = req.limit === 0 ? 100 : Math.min(req.limit, MAX_LIST);
      const owner = ownerOf(ctx);
      const receivedEvents = await delivery.listReceived({
        ...(owner !== undefined ? { clientId: owner } : {}),
        eventId: v.optionalId("event_id", req.eventId),
        ...(req.from ? { fromMs: timestampMs(req.from) } : {}),
        ...(req.to ? { toMs: timestampMs(req.to) } : {}),
        state: req.state,
        limit,
      });
      return { receivedEvents: receivedEvents.map(readable) };
    },
    async getReceivedEvent(req, ctx) {
      const receivedEvent = await delivery.getReceived(v.id("id", req.id));
      if (!receivedEvent || !owns(ctx, receivedEvent.clientId)) throw notFound("RECEIVED_NOT_FOUND", "received event", req.id);
      const executions = await Promise.all(receivedEvent.executionIds.map((id) => delivery.getExecution(id)));
      return { receivedEvent: readable(receivedEvent), executions: executions.filter((e): e is Execution => e !== undefined) };
    },
    async getExecution(req, ctx) {
      return { execution: await ownExecution(req.id, ctx) };
    },
    async retryExecution(req, ctx) {
      const e = await ownExecution(req.id, ctx);
      if (e.state === ExecutionState.PENDING) {
        throw heraldError(Code.FailedPrecondition, "EXECUTION_RUNNING", `execution "${e.id}" is queued or running`);
      }
      const next = e.attempts.reduce((n, a) => Math.max(n, a.number), 0) + 1;
      await delivery.updateExecution(e.id, { state: ExecutionState.PENDING, runStart: next });
      await delivery.setReceivedState(e.receivedId, ReceivedState.PENDING);
      await queue.add(e.receivedId);
      return { execution: await execution(e.id) };
    },
  };
}

/** The client whose records alone the caller may read (an eventhos client's own key); undefined: all. */
function ownerOf(ctx: HandlerContext): string | undefined {
  const p = principalOf(ctx);
  return p.kind === "client" ? p.clientId : undefined;
}

/** Whether the caller may read a record of `clientId`; others' records are simply not found. */
function owns(ctx: HandlerContext, clientId: string): boolean {
  const owner = ownerOf(ctx);
  return owner === undefined || owner === clientId;
}
