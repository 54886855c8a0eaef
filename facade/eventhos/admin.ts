import type { Context } from "koa";
import type Router from "@koa/router";
import { ConnectError } from "@connectrpc/connect";
import { fromJson, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AppSchema, EventDefinitionSchema } from "../../core/gen/herald/v1/registry_pb.js";
import {
  ActionSchema,
  ClientSchema,
  ContractSchema,
  ExecutionSchema,
  ReceivedEventSchema,
  ReceivedState,
} from "../../core/gen/herald/v1/eventhos_pb.js";
import { reasonOf } from "../../core/rpc/errors.js";
import { FormatError } from "../format-error.js";
import { TooLargeError } from "../body.js";
import { CODES, reply, type Reply } from "./codes.js";
import { UnsupportedTypeError } from "./read-body.js";
import type { EventhosDeps } from "./eventhos-deps.js";
import { ForwardCredential } from "./forward-credential.js";

type Json = Record<string, unknown>;

/** Enum values as the log shows them: RECEIVED_STATE_NO_CONTRACTS → "no-contracts". */
function plain<D extends DescMessage>(schema: D, m: MessageShape<D>): JsonValue {
  return JSON.parse(
    JSON.stringify(toJson(schema, m, { alwaysEmitImplicit: true }), (_, v: unknown) =>
      typeof v === "string"
        ? v.replace(/^(RECEIVED_STATE|EXECUTION_STATE|ATTEMPT_OUTCOME)_(\w+)$/, (_m, _p, name: string) =>
            name.toLowerCase().replaceAll("_", "-"),
          )
        : v,
    ),
  ) as JsonValue;
}

/** A message from a JSON body (camelCase or snake_case names; unknown fields refused). */
function message<D extends DescMessage>(schema: D, body: Json): MessageShape<D> {
  try {
    return fromJson(schema, body as JsonValue);
  } catch (err) {
    throw new FormatError(err instanceof Error ? err.message : String(err));
  }
}

/** The admin routes: systems, events, actions, contracts, clients, and the received-event log. */
export function adminRoutes(router: Router, deps: EventhosDeps): void {
  // Every call of these carries the admin request's own credential (the core checks it).
  const credential = new ForwardCredential();
  const registry = credential.forward(deps.registry);
  const clients = credential.forward(deps.clients);
  const delivery = credential.forward(deps.delivery);

  /**
   * Needs a Bearer credential (the core decides whether it is an admin's), reads the JSON body when
   * asked, answers in the eventhos shape.
   */
  const admin =
    (handler: (ctx: Context, body: Json) => Promise<unknown>, withBody = false) =>
    async (ctx: Context) => {
      const authorization = ctx.get("authorization");
      if (!deps.adminRoutes || !/^Bearer\s+\S+/i.test(authorization)) return reply(ctx, CODES.INCORRECT_TOKEN);
      await credential.run(authorization, () => run(ctx, handler, withBody));
    };
  const run = async (ctx: Context, handler: (ctx: Context, body: Json) => Promise<unknown>, withBody: boolean) => {
    try {
      let body: Json = {};
      if (withBody) {
        const read = await deps.readJson(ctx);
        if (typeof read !== "object" || read === null || Array.isArray(read)) throw new FormatError("body must be a JSON object");
        body = read as Json;
      }
      reply(ctx, CODES.SUCCESS, (await handler(ctx, body)) ?? null);
    } catch (err) {
      const [r, detail] = failure(err, ctx, deps);
      reply(ctx, r, undefined, detail);
    }
  };
  const id = (ctx: Context) => ctx.params["id"] ?? "";
  /** PUT /x/:id takes the id from the path. */
  const withId = (ctx: Context, body: Json): Json => (ctx.params["id"] ? { ...body, id: ctx.params["id"] } : { ...body });
  /** Admin-friendly defaults: what is created is in use unless said otherwise. */
  const defaults = (extra: Json, body: Json) => ({ ...extra, ...body });

  // Received events first: /event/received must not be read as the event "received".
  router.get(
    "/event/received",
    admin(async (ctx) => {
      const q = (name: string) => (typeof ctx.query[name] === "string" ? (ctx.query[name] as string) : "");
      const time = (name: string) => {
        const v = q(name);
        if (v === "") return undefined;
        const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
        if (Number.isNaN(ms)) throw new FormatError(`${name} must be an ISO 8601 time or epoch milliseconds`);
        return timestampFromMs(ms);
      };
      const stateName = q("state");
      const state =
        stateName === ""
          ? ReceivedState.UNSPECIFIED
          : ReceivedState[stateName.toUpperCase().replaceAll("-", "_") as keyof typeof ReceivedState];
      if (state === undefined) throw new FormatError("state must be pending, processed, error or no-contracts");
      const from = time("from");
      const to = time("to");
      const res = await delivery.listReceivedEvents({
        eventId: q("event"),
        state,
        limit: Number(q("limit") || 0),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
      });
      // The core repairs what it stored; a record still not writable as JSON (a core of an older
      // version) is left out with a log line rather than failing the whole list.
      return res.receivedEvents.flatMap((r) => {
        try {
          return [plain(ReceivedEventSchema, r)];
        } catch (err) {
          deps.logger.warn({ received: r.id, err: String(err) }, "received event left out of the list: not writable as JSON");
          return [];
        }
      });
    }),
  );
  const executionDetail = admin(async (ctx) => plain(ExecutionSchema, (await delivery.getExecution({ id: id(ctx) })).execution!));
  router.get("/event/received/execution-detail/:id", executionDetail);
  router.get("/received/execution-detail/:id", executionDetail); // the document's spelling
  router.post(
    "/event/received/execution-detail/:id/retry",
    admin(async (ctx) => plain(ExecutionSchema, (await delivery.retryExecution({ id: id(ctx) })).execution!)),
  );
  router.get(
    "/event/received/:id",
    admin(async (ctx) => {
      const res = await delivery.getReceivedEvent({ id: id(ctx) });
      return {
        ...(plain(ReceivedEventSchema, res.receivedEvent!) as Json),
        executions: res.executions.map((e) => plain(ExecutionSchema, e)),
      };
    }),
  );

  crud(router, admin, "/system", {
    list: async () => (await registry.listApps({})).apps.map((a) => plain(AppSchema, a)),
    get: async (ctx) => plain(AppSchema, (await registry.getApp({ id: id(ctx) })).app!),
    put: async (ctx, body) =>
      plain(AppSchema, (await registry.upsertApp({ app: message(AppSchema, defaults({ published: true }, withId(ctx, body))) })).app!),
    remove: async (ctx) => registry.deleteApp({ id: id(ctx) }),
  });
  crud(router, admin, "/event", {
    list: async (ctx) => {
      const system = typeof ctx.query["system"] === "string" ? ctx.query["system"] : "";
      const apps = system !== "" ? [system] : (await registry.listApps({})).apps.map((a) => a.id);
      const lists = await Promise.all(apps.map((appId) => registry.listEvents({ appId })));
      return lists.flatMap((l) => l.events.map((e) => plain(EventDefinitionSchema, e)));
    },
    get: async (ctx) => plain(EventDefinitionSchema, (await registry.getEvent({ id: id(ctx) })).event!),
    put: async (ctx, body) =>
      plain(
        EventDefinitionSchema,
        (await registry.upsertEvent({ event: message(EventDefinitionSchema, defaults({ published: true }, withId(ctx, body))) })).event!,
      ),
    remove: async (ctx) => registry.deleteEvent({ id: id(ctx) }),
  });
  crud(router, admin, "/action", {
    list: async (ctx) =>
      (await delivery.listActions({ appId: typeof ctx.query["system"] === "string" ? ctx.query["system"] : "" })).actions.map((a) =>
        plain(ActionSchema, a),
      ),
    get: async (ctx) => plain(ActionSchema, (await delivery.getAction({ id: id(ctx) })).action!),
    put: async (ctx, body) => {
      // The body template may be given as JSON itself rather than as JSON text.
      const b = withId(ctx, body);
      for (const k of ["bodyTemplate", "body_template"]) if (b[k] !== undefined && typeof b[k] !== "string") b[k] = JSON.stringify(b[k]);
      return plain(ActionSchema, (await delivery.upsertAction({ action: message(ActionSchema, b) })).action!);
    },
    remove: async (ctx) => delivery.deleteAction({ id: id(ctx) }),
  });
  crud(router, admin, "/contract", {
    list: async (ctx) =>
      (await delivery.listContracts({ eventId: typeof ctx.query["event"] === "string" ? ctx.query["event"] : "" })).contracts.map((c) =>
        plain(ContractSchema, c),
      ),
    get: async (ctx) => plain(ContractSchema, (await delivery.getContract({ id: id(ctx) })).contract!),
    put: async (ctx, body) =>
      plain(
        ContractSchema,
        (await delivery.upsertContract({ contract: message(ContractSchema, defaults({ active: true }, withId(ctx, body))) })).contract!,
      ),
    remove: async (ctx) => delivery.deleteContract({ id: id(ctx) }),
  });
  crud(router, admin, "/client", {
    list: async () => (await clients.listClients({})).clients.map((c) => plain(ClientSchema, c)),
    get: async (ctx) => plain(ClientSchema, (await clients.getClient({ id: id(ctx) })).client!),
    put: async (ctx, body) => {
      const { secret, ...rest } = withId(ctx, body);
      if (secret !== undefined && typeof secret !== "string") throw new FormatError("secret must be a string");
      return plain(ClientSchema, (await clients.upsertClient({ client: message(ClientSchema, rest), secret: secret ?? "" })).client!);
    },
    remove: async (ctx) => clients.deleteClient({ id: id(ctx) }),
  });
  router.post(
    "/client/:id/key",
    admin(async (ctx) => {
      const res = await clients.createKey({ clientId: id(ctx) });
      return { key_id: res.keyId, key: res.key };
    }),
  );
  router.delete(
    "/client/:id/key/:keyId",
    admin(async (ctx) => clients.revokeKey({ clientId: id(ctx), keyId: ctx.params["keyId"] ?? "" })),
  );
}

type Handler = (ctx: Context, body: Json) => Promise<unknown>;

/** GET /x, GET /x/:id, POST /x, PUT /x and /x/:id (upsert), DELETE /x/:id and /x?id=. */
function crud(
  router: Router,
  admin: (h: Handler, withBody?: boolean) => (ctx: Context) => Promise<void>,
  path: string,
  r: { list: Handler; get: Handler; put: Handler; remove: Handler },
): void {
  const removed = async (ctx: Context, body: Json) => {
    await r.remove(ctx, body);
    return null;
  };
  router.get(path, admin(r.list));
  router.get(`${path}/:id`, admin(r.get));
  router.post(path, admin(r.put, true));
  router.put(path, admin(r.put, true));
  router.put(`${path}/:id`, admin(r.put, true));
  router.delete(`${path}/:id`, admin(removed));
  router.delete(
    path,
    admin(async (ctx, body) => {
      const q = ctx.query["id"];
      if (typeof q !== "string" || q === "") throw new FormatError("id is required");
      ctx.params["id"] = q;
      return removed(ctx, body);
    }),
  );
}

function failure(err: unknown, ctx: Context, deps: EventhosDeps): [Reply, string | undefined] {
  if (err instanceof UnsupportedTypeError) return [CODES.UNSUPPORTED_TYPE, undefined];
  if (err instanceof TooLargeError) return [CODES.TOO_LARGE, undefined];
  if (err instanceof FormatError) return [CODES.INVALID_REQUEST, err.message];
  const detail = err instanceof ConnectError ? err.rawMessage : undefined;
  switch (reasonOf(err)) {
    case "INVALID_ARGUMENT":
      return [CODES.INVALID_REQUEST, detail];
    case "EVENT_NOT_FOUND":
      return [CODES.EVENT_NOT_FOUND, undefined];
    case "CLIENT_NOT_FOUND":
      return [CODES.CLIENT_NOT_FOUND, undefined];
    case "APP_NOT_FOUND":
    case "ACTION_NOT_FOUND":
    case "CONTRACT_NOT_FOUND":
    case "RECEIVED_NOT_FOUND":
    case "EXECUTION_NOT_FOUND":
    case "KEY_NOT_FOUND":
      return [CODES.NOT_FOUND, detail];
    case "EXECUTION_RUNNING":
      return [CODES.RUNNING, undefined];
    // The credential is not an admin's: the same answer as a wrong token.
    case "CREDENTIAL_REQUIRED":
    case "CREDENTIAL_INVALID":
    case "CREDENTIAL_EXPIRED":
    case "ROLE_REQUIRED":
    case "APP_NOT_ALLOWED":
      return [CODES.INCORRECT_TOKEN, undefined];
    default:
      deps.logger.error({ err, path: ctx.path }, "eventhos admin request failed");
      return [CODES.NOT_CATEGORIZED, undefined];
  }
}
