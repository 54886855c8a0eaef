import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextKey, type ContextValues, type HandlerContext } from "@connectrpc/connect";

export interface LazyContextInit {
  service: DescService;
  method: DescMethod;
  protocolName: string;
  /** Source of the request headers, read only if a handler asks for them. */
  requestHeader?: () => Array<[string, string]>;
  /** The `authorization` header alone, read without building every header (the authorization layer reads it on every call). */
  authorization?: () => string | undefined;
  timeoutMs?: number;
  /** Signals that end the call, e.g. server shutdown or the caller's own signal. */
  signals: ReadonlyArray<AbortSignal | undefined>;
  /** Subscribes to the client's cancellation; returns the unsubscribe. Used only once the signal is. */
  onCancel?: (cancel: () => void) => () => void;
}

/**
 * A HandlerContext that builds its parts only when a handler touches them. connect's
 * createHandlerContext links three abort signals and allocates three Headers per call, and its
 * completion abort builds an error object; measured here that was the largest cost of a unary call.
 * Unary handlers like SendEvent never look at the signal, so most calls now pay for none of it.
 */
export class LazyHandlerContext implements HandlerContext {
  readonly requestMethod = "POST";
  private controller: AbortController | undefined;
  private unlink: Array<() => void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private reqHeader: Headers | undefined;
  private resHeader: Headers | undefined;
  private resTrailer: Headers | undefined;
  private contextValues: ContextValues | undefined;
  private readonly deadline: number | undefined;

  constructor(private readonly init: LazyContextInit) {
    this.deadline = init.timeoutMs === undefined ? undefined : Date.now() + init.timeoutMs;
  }

  get service(): DescService {
    return this.init.service;
  }
  get method(): DescMethod {
    return this.init.method;
  }
  get protocolName(): string {
    return this.init.protocolName;
  }
  get url(): string {
    return `/${this.init.service.typeName}/${this.init.method.name}`;
  }

  // A method, not an arrow property: a context per call (and per idle stream) holds no closure for it.
  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.done) {
        controller.abort(completed());
        return controller.signal;
      }
      for (const s of this.init.signals) {
        if (!s) continue;
        if (s.aborted) {
          controller.abort(s.reason);
          break;
        }
        const onAbort = () => controller.abort(s.reason);
        s.addEventListener("abort", onAbort);
        (this.unlink ??= []).push(() => s.removeEventListener("abort", onAbort));
      }
      if (this.init.onCancel && !controller.signal.aborted) {
        (this.unlink ??= []).push(this.init.onCancel(() => controller.abort(new ConnectError("cancelled by the client", Code.Canceled))));
      }
      const left = this.timeoutMs();
      if (left !== undefined && !controller.signal.aborted) {
        this.timer = setTimeout(
          () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
          Math.max(left, 0),
        );
        this.timer.unref?.();
      }
    }
    return this.controller.signal;
  }

  get requestHeader(): Headers {
    return (this.reqHeader ??= new Headers(this.init.requestHeader?.()));
  }

  /** The request's `authorization` header, or null: without building the Headers when the transport can read it alone. */
  authorizationHeader(): string | null {
    if (this.init.authorization && !this.reqHeader) return this.init.authorization() ?? null;
    return this.requestHeader.get("authorization");
  }
  get responseHeader(): Headers {
    return (this.resHeader ??= new Headers());
  }
  get responseTrailer(): Headers {
    return (this.resTrailer ??= new Headers());
  }
  get values(): ContextValues {
    return (this.contextValues ??= new Values());
  }

  /** Response headers set by the handler, if any. */
  get setResponseHeader(): Headers | undefined {
    return this.resHeader;
  }
  /** Response trailers set by the handler, if any. */
  get setResponseTrailer(): Headers | undefined {
    return this.resTrailer;
  }

  /** The call is over: abort the signal (if anyone holds it) and drop the links. */
  finish(reason?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.unlink) for (const u of this.unlink) u();
    this.unlink = undefined;
    if (this.timer) clearTimeout(this.timer);
    if (this.controller && !this.controller.signal.aborted) this.controller.abort(reason ?? completed());
  }
}

/**
 * connect's ContextValues with its methods on a prototype: createContextValues builds three
 * closures per call, which an idle stream would hold as long as it lives.
 */
class Values implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    const own = this as unknown as Record<symbol, T>;
    return key.id in own ? (own[key.id] as T) : key.defaultValue;
  }
  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Record<symbol, T>)[key.id] = value;
    return this;
  }
  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Record<symbol, unknown>)[key.id];
    return this;
  }
}

const completed = () => new ConnectError("the call is complete", Code.Canceled);
