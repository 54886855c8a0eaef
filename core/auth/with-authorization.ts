import { Code, type HandlerContext } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { heraldError } from "../rpc/errors.js";
import type { Authenticator } from "./authenticator.js";
import { appNotAllowed, hasRole, isAll, mayTouch, principalKey, roleRequired, type Principal } from "./principal.js";
import { SubscriberScopeError, type Rule } from "./policy.js";
import { pushStream, pushStreamOf, startPush } from "../wire/push-stream.js";

type AnyHandler = (req: never, ctx: HandlerContext) => unknown;
// biome-ignore lint/suspicious/noExplicitAny: a rule of any method; its functions get that method's request
type AnyRule = Rule<any, any>;

const subscriberScope = (why: string) => heraldError(Code.PermissionDenied, "SUBSCRIBER_SCOPE", why);

/**
 * The one authorization layer: wraps every method of a service implementation so that, before the
 * handler runs, the caller is authenticated and checked against the method's rule, and the
 * principal is left in the context for the handler. Every transport (grpc-js, Connect, gRPC-Web,
 * the in-process client) serves the wrapped functions, so no call reaches a handler around it.
 * A method without a rule refuses the start.
 */
export function withAuthorization<T extends object>(service: DescService, impl: T, rules: object, auth: Authenticator): T {
  const out: Record<string, unknown> = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, AnyHandler | undefined>)[method.localName];
    if (!fn) continue;
    const rule = (rules as Record<string, AnyRule | undefined>)[method.localName];
    if (!rule) throw new Error(`${service.typeName}.${method.name} has no authorization rule (core/auth/policy.ts)`);
    if ("open" in rule) {
      out[method.localName] = fn;
      continue;
    }
    const checked = async (req: never, ctx: HandlerContext) => {
      const p = await admit(auth, rule, req, ctx);
      const res = await fn(req, ctx);
      if (rule.resultApp && !isAll(p)) {
        const appId = rule.resultApp(res as never);
        if (appId !== "" && !mayTouch(p, appId)) throw appNotAllowed(appId);
      }
      return res;
    };
    const push = pushStreamOf(fn);
    out[method.localName] = push
      ? pushStream((req: never, ctx: HandlerContext, sink) => {
          admit(auth, rule, req, ctx).then(
            () => startPush(push, req, ctx, sink),
            (err: unknown) => sink.fail(err),
          );
        })
      : method.methodKind === "server_streaming"
        ? async function* (req: never, ctx: HandlerContext) {
            await admit(auth, rule, req, ctx);
            yield* fn(req, ctx) as AsyncIterable<unknown>;
          }
        : (req: never, ctx: HandlerContext) => {
            // Most calls are told at once (a cached key): no promise to wait on before the handler.
            const now = auth.principalNow(ctx);
            if (now !== undefined && (!rule.resultApp || isAll(now))) {
              decide(rule, req, ctx, now);
              return fn(req, ctx);
            }
            return checked(req, ctx);
          };
  }
  return out as T;
}

/** Authenticates the caller and checks it against the rule; throws UNAUTHENTICATED or PERMISSION_DENIED. */
async function admit(auth: Authenticator, rule: Exclude<AnyRule, { open: string }>, req: never, ctx: HandlerContext): Promise<Principal> {
  return decide(rule, req, ctx, await auth.principal(ctx));
}

/** Checks the authenticated caller against the rule and leaves it in the context. */
function decide(rule: Exclude<AnyRule, { open: string }>, req: never, ctx: HandlerContext, p: Principal): Principal {
  ctx.values.set(principalKey, p);
  if (isAll(p)) return p;
  const appId = rule.app?.(req) ?? "";
  switch (p.kind) {
    case "subscriber":
      if (!rule.subscriber) throw subscriberScope("a subscriber token may only watch its own events");
      if (appId !== p.appId) throw appNotAllowed(appId);
      try {
        rule.subscriber(req, p);
      } catch (err) {
        if (err instanceof SubscriberScopeError) throw subscriberScope(`a subscriber token watches its own ksid "${p.ksid}" only`);
        throw err;
      }
      return p;
    case "client":
      if (!rule.client) throw roleRequired(rule.roles);
      return p;
    case "api-key":
      if (!hasRole(p, rule.roles)) throw roleRequired(rule.roles);
      if (appId !== "" && !mayTouch(p, appId)) throw appNotAllowed(appId);
      return p;
  }
}
