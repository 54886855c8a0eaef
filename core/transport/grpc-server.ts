import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { HealthImplementation } from "grpc-health-check";
import { ReflectionService } from "@grpc/reflection";
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { LazyHandlerContext } from "./handler-context.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { getEncoded } from "./pre-encoded.js";
import type { Logger } from "../logger.js";

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;
type AnyImpl = Partial<Record<string, AnyHandler>>;

export interface ServiceBinding {
  service: DescService;
  /** A connect-es ServiceImpl (or part of one): the same functions every transport serves. */
  impl: object;
}

export interface GrpcServerOptions {
  services: ServiceBinding[];
  logger: Logger;
  /** Aborts every handler's signal (shutdown). */
  shutdownSignal?: AbortSignal;
  maxReceiveMessageLength?: number;
  /** .proto files offered by server reflection, and the folder their imports resolve from. */
  reflectionProtoFiles: string[];
  protoIncludeDir: string;
}

/**
 * A grpc-js server for connect-es handlers, with the standard health service (every service
 * SERVING until the caller says otherwise) and server reflection.
 */
export function createGrpcServer(options: GrpcServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const server = new grpc.Server({
    ...(options.maxReceiveMessageLength !== undefined
      ? { "grpc.max_receive_message_length": options.maxReceiveMessageLength }
      : {}),
  });
  for (const { service, impl } of options.services) {
    addConnectService(server, service, impl, options);
  }
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(options.services.map((s) => [s.service.typeName, "SERVING" as const])),
  });
  health.addToServer(server);
  const definition = protoLoader.loadSync(options.reflectionProtoFiles, { includeDirs: [options.protoIncludeDir] });
  new ReflectionService(definition).addToServer(server);
  return { server, health };
}

/**
 * Registers a connect-es service implementation with a grpc-js server: the grpc-js service
 * definition is derived from the protobuf-es descriptor (path, codec per method), and each call
 * gets a connect HandlerContext whose signal aborts when the client cancels.
 */
export function addConnectService(
  server: grpc.Server,
  service: DescService,
  impl: object,
  options: { logger: Logger; shutdownSignal?: AbortSignal },
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}.${method.name}: only unary and server-streaming methods are served`);
    }
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
      requestDeserialize: (b: Buffer) => fromBinary(method.input, b),
      // Fan-out registers one encoding per event for all its streams: use it instead of re-encoding.
      responseSerialize: (m: unknown) => {
        const bytes = getEncoded(m as object) ?? toBinary(method.output, create(method.output, m as never));
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
      originalName: method.localName,
    };
    const handler = (impl as AnyImpl)[method.localName];
    handlers[method.localName] =
      method.methodKind === "unary"
        ? unaryHandler(service, method, handler, options)
        : streamHandler(service, method, handler, options);
  }
  server.addService(definition, handlers);
}

function context(
  service: DescService,
  method: DescMethod,
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  shutdownSignal: AbortSignal | undefined,
): LazyHandlerContext {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline);
  return new LazyHandlerContext({
    service,
    method,
    protocolName: "grpc",
    signals: [shutdownSignal],
    onCancel: (cancel) => {
      if (call.cancelled) cancel();
      else call.once("cancelled", cancel);
      return () => call.off("cancelled", cancel);
    },
    requestHeader: () => {
      const headers: Array<[string, string]> = [];
      for (const [key, value] of Object.entries(call.metadata.getMap())) {
        if (typeof value === "string") headers.push([key, value]);
      }
      return headers;
    },
    ...(Number.isFinite(ms) ? { timeoutMs: Math.max(ms, 0) } : {}),
  });
}

function unaryHandler(
  service: DescService,
  method: DescMethod,
  handler: AnyHandler | undefined,
  options: { logger: Logger; shutdownSignal?: AbortSignal },
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    if (!handler) return callback(unimplemented(method));
    const ctx = context(service, method, call, options.shutdownSignal);
    Promise.resolve()
      .then(() => handler(call.request, ctx))
      .then(
        (response) => {
          sendHeader(call, ctx.setResponseHeader);
          callback(null, response, toMetadata(ctx.setResponseTrailer));
        },
        (err: unknown) => callback(toStatus(err, ctx, options.logger)),
      )
      .finally(() => ctx.finish());
  };
}

function streamHandler(
  service: DescService,
  method: DescMethod,
  handler: AnyHandler | undefined,
  options: { logger: Logger; shutdownSignal?: AbortSignal },
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    if (!handler) {
      call.emit("error", unimplemented(method));
      return;
    }
    const ctx = context(service, method, call, options.shutdownSignal);
    void (async () => {
      let iterator: AsyncIterator<unknown> | undefined;
      let headerSent = false;
      try {
        iterator = (handler(call.request, ctx) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        for (;;) {
          const next = await iterator.next();
          if (next.done) break;
          if (call.cancelled) return;
          if (!headerSent) {
            sendHeader(call, ctx.setResponseHeader);
            headerSent = true;
          }
          // Back-pressure: a full buffer means the client is slow; pull nothing more until it drains.
          if (!call.write(next.value)) await drained(call);
          if (call.cancelled) return;
        }
        if (!headerSent) sendHeader(call, ctx.setResponseHeader);
        call.end(toMetadata(ctx.setResponseTrailer));
      } catch (err) {
        if (!call.cancelled) call.emit("error", toStatus(err, ctx, options.logger));
      } finally {
        ctx.finish();
        if (call.cancelled) {
          // Let the generator's finally blocks run; its result no longer matters.
          await iterator?.return?.().catch(() => undefined);
        }
      }
    })();
  };
}

function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
    call.on("close", done);
  });
}

function sendHeader(call: { sendMetadata(m: grpc.Metadata): void }, headers: Headers | undefined): void {
  let any = false;
  headers?.forEach(() => (any = true));
  if (any) call.sendMetadata(toMetadata(headers));
}

function toMetadata(headers: Headers | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  headers?.forEach((value, key) => md.add(key, value));
  return md;
}

function unimplemented(method: DescMethod): Partial<grpc.StatusObject> {
  return { code: grpc.status.UNIMPLEMENTED, details: `${method.parent.typeName}.${method.name} is not implemented` };
}

/**
 * A ConnectError keeps its code (connect's codes are gRPC's), message, trailers and details (as
 * google.rpc.Status in grpc-status-details-bin). Anything else is a bug: INTERNAL, logged, and
 * nothing of it reaches the client.
 */
function toStatus(err: unknown, ctx: LazyHandlerContext, logger: Logger): Partial<grpc.StatusObject> {
  if (!(err instanceof ConnectError)) {
    logger.error({ err, method: ctx.method.name }, "handler failed");
    return { code: grpc.status.INTERNAL, details: "internal error" };
  }
  const metadata = toMetadata(ctx.setResponseTrailer);
  err.metadata.forEach((value, key) => metadata.set(key, value));
  if (err.details.length > 0) {
    const status = create(StatusSchema, {
      code: err.code,
      message: err.rawMessage,
      details: err.details.map((d) =>
        "desc" in d
          ? anyPack(d.desc, create(d.desc, d.value))
          : { $typeName: "google.protobuf.Any" as const, typeUrl: `type.googleapis.com/${d.type}`, value: d.value },
      ),
    });
    metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  }
  return { code: err.code as number as grpc.status, details: err.rawMessage, metadata };
}
