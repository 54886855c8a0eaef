import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type CallOptions, type Client, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { LazyHandlerContext } from "./handler-context.js";
import { pushStreamOf, startPush, withPushCall, type PushStream, type SinkListener, type StreamSink } from "../wire/push-stream.js";

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;

/**
 * A client with the generated client's type that calls the handlers in this process directly:
 * no serialization, no router. The facade uses it when the core runs in the same process, and the
 * same facade code takes a gRPC client when the core runs elsewhere.
 *
 * Requests are copied into messages (`create`) exactly as a transport would deliver them, errors
 * are ConnectErrors as a remote call would raise, and the handler's signal aborts when the caller's
 * does, when a stream is abandoned, or when the call is over.
 */
export function createInProcessClient<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): Client<S> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, AnyHandler | undefined>)[method.localName];
    const context = (options: CallOptions | undefined) => {
      const headers = options?.headers;
      return new LazyHandlerContext({
        service,
        method,
        protocolName: "in-process",
        signals: [options?.signal],
        ...(options?.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(headers ? { requestHeader: () => [...new Headers(headers)] } : {}),
      });
    };
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = async (input: object, options?: CallOptions) => {
          if (!handler) throw unimplemented(method);
          const ctx = context(options);
          try {
            const output = await handler(create(method.input, input as never), ctx);
            options?.onHeader?.(ctx.responseHeader);
            options?.onTrailer?.(ctx.responseTrailer);
            return create(method.output, output as never);
          } catch (err) {
            throw ConnectError.from(err);
          } finally {
            ctx.finish();
          }
        };
        break;
      case "server_streaming": {
        const push = pushStreamOf(handler);
        const call = (input: object, options?: CallOptions) => stream(method, handler, input, options, context);
        // A push handler can also be called push-style (pushCallOf), its responses into the caller's sink.
        // Without call options: one init for every such call.
        const init = { service, method, protocolName: "in-process", signals: [] };
        client[method.localName] = push
          ? withPushCall(call, (input: object, sink: StreamSink<unknown>) =>
              pushInto(method, push, input, new LazyHandlerContext(init), sink),
            )
          : call;
        break;
      }
      default:
        client[method.localName] = () => {
          throw unimplemented(method);
        };
    }
  }
  return client as Client<S>;
}

async function* stream(
  method: DescMethod,
  handler: AnyHandler | undefined,
  input: object,
  options: CallOptions | undefined,
  context: (o: CallOptions | undefined) => LazyHandlerContext,
): AsyncIterable<unknown> {
  if (!handler) throw unimplemented(method);
  const ctx = context(options);
  try {
    const responses = handler(create(method.input, input as never), ctx) as AsyncIterable<object>;
    for await (const response of responses) yield create(method.output, response as never);
    options?.onTrailer?.(ctx.responseTrailer);
  } catch (err) {
    throw ConnectError.from(err);
  } finally {
    ctx.finish();
  }
}

/**
 * A push handler's stream straight into the caller's sink: responses as messages of the output
 * type, errors as ConnectErrors. The caller's cancel (through its sink's listener) finishes the
 * context first, as a transport's cancellation does.
 */
function pushInto(method: DescMethod, push: PushStream, input: object, ctx: LazyHandlerContext, sink: StreamSink<unknown>): void {
  startPush(push, create(method.input, input as never), ctx, new InProcessSink(method, ctx, sink));
}

class InProcessSink implements StreamSink<unknown>, SinkListener {
  private listener: SinkListener | undefined;
  private cancelled = false;

  constructor(
    private readonly method: DescMethod,
    private readonly ctx: LazyHandlerContext,
    private readonly inner: StreamSink<unknown>,
  ) {}

  send(response: unknown): boolean {
    return this.inner.send(create(this.method.output, response as never));
  }

  pendingBytes(): number {
    return this.inner.pendingBytes();
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
    if (this.cancelled) listener.cancel();
    else this.inner.listen(this);
  }

  end(): void {
    this.ctx.finish();
    this.inner.end();
  }

  fail(error: unknown): void {
    this.ctx.finish();
    this.inner.fail(ConnectError.from(error));
  }

  drain(): void {
    this.listener?.drain();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.ctx.finish();
    this.listener?.cancel();
  }
}

function unimplemented(method: DescMethod): ConnectError {
  return new ConnectError(`${method.parent.typeName}.${method.name} is not implemented`, Code.Unimplemented);
}
