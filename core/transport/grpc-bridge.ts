import * as grpc from "@grpc/grpc-js";
import type { ServerHttp2Stream } from "node:http2";
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { LazyHandlerContext } from "./handler-context.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { getEncoded } from "../wire/pre-encoded.js";
import type { FastEncoders } from "../wire/fast-encoders.js";
import type { FastDecoders } from "../wire/fast-decoders.js";
import { streamFlowKey, type StreamFlow } from "../wire/stream-flow.js";
import { pushStreamOf, startPush, type PushStream, type SinkListener, type StreamSink } from "../wire/push-stream.js";
import type { Logger } from "../logger.js";

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;
type AnyImpl = Partial<Record<string, AnyHandler>>;

export interface AddServiceOptions {
  logger: Logger;
  /** Aborts every handler's signal (shutdown). */
  shutdownSignal?: AbortSignal;
  /** The error for request bytes that do not decode; absent: a plain INVALID_ARGUMENT. */
  malformedRequest?: (method: DescMethod, message: string) => ConnectError;
}

/**
 * Registers a connect-es service implementation with a grpc-js server. The grpc-js service
 * definition is derived from the protobuf-es descriptor (path and codec per method); each call gets
 * a connect HandlerContext whose signal aborts when the client cancels or the server shuts down.
 * Methods the impl lacks answer UNIMPLEMENTED. Only unary and server-streaming methods are served.
 */
export function addConnectService<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AddServiceOptions,
): void {
  addService(server, service, impl, options);
}

export function addService(
  server: grpc.Server,
  service: DescService,
  impl: object,
  options: AddServiceOptions,
  encoders?: FastEncoders,
  decoders?: FastDecoders,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(
        `${service.typeName}.${method.name} is ${method.methodKind.replace("_", "-")}: only unary and server-streaming methods can be served over grpc-js here`,
      );
    }
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (m: unknown) => encode(method.input, m),
      // Decoded by the handler below, not by grpc-js: grpc-js answers a decoding failure INTERNAL,
      // while bytes that are not a valid request are the caller's error (INVALID_ARGUMENT).
      requestDeserialize: (b: Buffer) => b,
      // The bridge encodes responses itself (so an encoding failure is logged, see below) and hands
      // grpc-js bytes; anything else is encoded here.
      responseSerialize: (m: unknown) => (m instanceof Uint8Array ? toBuffer(m) : encode(method.output, m)),
      responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
      originalName: method.localName,
    };
    const handler = (impl as AnyImpl)[method.localName];
    const fast = encoders?.get(method.output);
    const encodeOutput = (m: unknown) => encode(method.output, m, fast);
    const bridged: Bridged = { method, handler, encodeOutput, decodeInput: decoders?.get(method.input), options };
    handlers[method.localName] = method.methodKind === "unary" ? unaryHandler(bridged) : streamHandler(bridged);
  }
  server.addService(definition, handlers);
}

/**
 * The binary form of a message: the bytes registered with setEncoded if any (fan-out encodes an
 * event once for all its streams), else the type's fast encoder if it takes it, else protobuf-es's
 * encoding. `create` returns a message as is.
 */
function encode(schema: DescMethod["output"], message: unknown, fast?: (message: unknown) => Uint8Array | undefined): Buffer {
  const bytes =
    (typeof message === "object" && message !== null ? getEncoded(message) : undefined) ??
    fast?.(message) ??
    toBinary(schema, create(schema, message as never));
  return toBuffer(bytes);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type ServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function handlerContext(method: DescMethod, call: ServerCall, shutdownSignal: AbortSignal | undefined): LazyHandlerContext {
  // A Date or milliseconds since the epoch; Infinity without a deadline.
  const deadline = call.getDeadline();
  const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  return new LazyHandlerContext({
    service: method.parent,
    method,
    protocolName: "grpc",
    signals: [shutdownSignal],
    onCancel: (cancel) => {
      if (call.cancelled) {
        cancel();
        return () => {};
      }
      call.once("cancelled", cancel);
      return () => call.off("cancelled", cancel);
    },
    authorization: () => {
      const [value] = call.metadata.get("authorization");
      return typeof value === "string" ? value : undefined;
    },
    requestHeader: () => {
      const headers: Array<[string, string]> = [];
      for (const [key, values] of Object.entries(call.metadata.toJSON())) {
        for (const value of values) if (typeof value === "string") headers.push([key, value]);
      }
      return headers;
    },
    ...(Number.isFinite(ms) ? { timeoutMs: Math.max(ms, 0) } : {}),
  });
}

/**
 * The request message from its bytes; bytes that are not one (broken wire data, invalid UTF-8 in a
 * string) are the caller's error, INVALID_ARGUMENT, as Connect answers JSON it cannot read.
 */
function decodeRequest(
  method: DescMethod,
  bytes: unknown,
  options: AddServiceOptions,
  fast: ((bytes: Uint8Array) => unknown) | undefined,
): unknown {
  try {
    return fast?.(bytes as Uint8Array) ?? fromBinary(method.input, bytes as Uint8Array);
  } catch (err) {
    const message = `request is not a valid ${method.input.typeName}: ${err instanceof Error ? err.message : String(err)}`;
    throw options.malformedRequest?.(method, message) ?? new ConnectError(message, Code.InvalidArgument);
  }
}

/** A method as the bridge serves it: its handler (absent: UNIMPLEMENTED) and how its responses are encoded. */
interface Bridged {
  method: DescMethod;
  handler: AnyHandler | undefined;
  encodeOutput: (message: unknown) => Buffer;
  /** The request type's fast decoder, if it has one (else fromBinary). */
  decodeInput: ((bytes: Uint8Array) => unknown) | undefined;
  options: AddServiceOptions;
}

function unaryHandler({ method, handler, encodeOutput, decodeInput, options }: Bridged): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    if (!handler) {
      callback(unimplemented(method));
      return;
    }
    const ctx = handlerContext(method, call, options.shutdownSignal);
    void (async () => {
      // Encoding here, not in grpc-js, so that a response that cannot be encoded is logged.
      let bytes: Buffer;
      try {
        bytes = encodeOutput(await handler(decodeRequest(method, call.request, options, decodeInput), ctx));
      } catch (err) {
        sendUnaryHeader(call, ctx, options.logger);
        callback(toStatus(err, method, ctx, call.cancelled, options.logger));
        return;
      } finally {
        ctx.finish();
      }
      sendUnaryHeader(call, ctx, options.logger);
      const trailer = ctx.setResponseTrailer;
      callback(null, bytes, trailer ? toMetadata(trailer, options.logger) : undefined);
    })();
  };
}

function streamHandler(bridged: Bridged): grpc.handleServerStreamingCall<unknown, unknown> {
  const push = pushStreamOf(bridged.handler);
  return push ? pushHandler(bridged, push) : pullHandler(bridged);
}

/**
 * A push stream (core/wire/push-stream.ts) writes through its sink straight to the call: nothing
 * waits per stream between its events, and ending the sink ends the call with its status.
 */
function pushHandler(
  { method, encodeOutput, decodeInput, options }: Bridged,
  push: PushStream,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const ctx = handlerContext(method, call, options.shutdownSignal);
    const sink = new PushOut(call, ctx, method, encodeOutput, options.logger);
    let req: unknown;
    try {
      req = decodeRequest(method, call.request, options, decodeInput);
    } catch (err) {
      sink.fail(err);
      return;
    }
    startPush(push, req, ctx, sink);
  };
}

function pullHandler({ method, handler, encodeOutput, decodeInput, options }: Bridged): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    // grpc-js's server stream ends the call with the status of an 'error' event (after what was
    // written is flushed), trailers included; destroy() would drop the status.
    if (!handler) {
      call.emit("error", unimplemented(method));
      return;
    }
    const ctx = handlerContext(method, call, options.shutdownSignal);
    const out = new StreamOut(call);
    ctx.values.set(streamFlowKey, out);
    void (async () => {
      let iterator: AsyncIterator<unknown> | undefined;
      let done = false;
      try {
        iterator = (handler(decodeRequest(method, call.request, options, decodeInput), ctx) as AsyncIterable<unknown>)[
          Symbol.asyncIterator
        ]();
        for (;;) {
          const next = await iterator.next();
          if (next.done) {
            done = true;
            break;
          }
          if (call.cancelled) break;
          const bytes = encodeOutput(next.value);
          sendHeader(call, ctx, options.logger);
          // Back-pressure: a full buffer means the client is slow; pull nothing more until it drains
          // (or the handler ends the stream meanwhile).
          if (!out.write(bytes)) await out.drained();
          if (call.cancelled) break;
        }
        if (done && !call.cancelled) {
          sendHeader(call, ctx, options.logger);
          call.end(toMetadata(ctx.setResponseTrailer, options.logger));
        }
      } catch (err) {
        const status = toStatus(err, method, ctx, call.cancelled, options.logger);
        if (!call.cancelled) {
          sendHeader(call, ctx, options.logger);
          call.emit("error", status);
        }
      } finally {
        // On cancellation (or a response that could not be encoded), abort the signal first, then
        // let the generator's finally blocks run; nothing it yields any more is written. (return()
        // on a generator that threw is a no-op.)
        ctx.finish();
        if (!done && iterator?.return) {
          try {
            await iterator.return();
          } catch (err) {
            options.logger.debug({ method: method.name, err: String(err) }, "stream handler failed while closing");
          }
        }
      }
    })();
  };
}

function isServerStream(s: unknown): s is ServerHttp2Stream {
  const x = s as Partial<ServerHttp2Stream> | undefined;
  return typeof x?.respond === "function" && typeof x.write === "function" && typeof x.writableLength === "number";
}

/** Messages up to this size are framed in one copy (cheap); larger ones are written as prefix + shared body. */
const COPY_BELOW = 16 * 1024;

/**
 * How a server stream's responses reach its socket. grpc-js's own write copies every message into
 * a new buffer with its 5-byte prefix (BaseServerInterceptingCall.serializeMessage) and keeps that
 * copy until HTTP/2 flow control lets it out: one copy per stream of an event that fan-out encoded
 * once, held as long as the reader does not read. So, when the call's HTTP/2 stream can be reached
 * (no grpc-js interceptors: the call's `call.stream`), responses are written to it directly: the
 * prefix, then the shared body, which Node's HTTP/2 keeps by reference. Otherwise (another grpc-js
 * layout) through grpc-js. Either way the next response is pulled only once the stream's buffer has
 * room, and `pendingBytes` tells the handler what is taken and not yet sent.
 */
class StreamOut implements StreamFlow {
  protected readonly h2: ServerHttp2Stream | undefined;
  private interrupted = false;
  private headersSent = false;
  private wake: (() => void) | undefined;

  constructor(protected readonly call: grpc.ServerWritableStream<unknown, unknown>) {
    const inner = (call as unknown as { call?: { stream?: unknown } }).call;
    this.h2 = isServerStream(inner?.stream) ? inner.stream : undefined;
  }

  pendingBytes(): number {
    // grpc-js's buffer counts messages, not bytes: its unsent bytes are not known.
    return this.h2 ? this.h2.writableLength : 0;
  }

  interrupt(): void {
    this.interrupted = true;
    this.wake?.();
  }

  /** Writes one encoded response; false: wait for drained() before the next. */
  write(bytes: Buffer): boolean {
    const h2 = this.h2;
    if (!h2) return this.call.write(bytes);
    if (h2.destroyed || h2.closed) return true; // the call is cancelled; the caller sees it
    this.sendHeaders();
    corkForTick(h2);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0; // not compressed
    prefix.writeUInt32BE(bytes.byteLength, 1);
    if (bytes.byteLength < COPY_BELOW) return h2.write(Buffer.concat([prefix, bytes], bytes.byteLength + 5));
    h2.cork();
    h2.write(prefix);
    const room = h2.write(bytes);
    h2.uncork();
    return room;
  }

  /** Headers now, if not yet sent: grpc-js's own, unless the handler's were sent (then this is a no-op). */
  protected sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.call.sendMetadata(new grpc.Metadata());
  }

  /** Writes a whole gRPC frame (prefix and message) to the HTTP/2 stream; false: wait for drained(). */
  protected writeFrame(h2: ServerHttp2Stream, frame: Buffer): boolean {
    if (h2.destroyed || h2.closed) return true;
    this.sendHeaders();
    corkForTick(h2);
    return h2.write(frame);
  }

  /** Resolves when the stream's buffer drains, the call ends without draining, or interrupt() is called. */
  drained(): Promise<void> {
    if (this.interrupted) return Promise.resolve();
    const call = this.call;
    const h2 = this.h2;
    return new Promise((resolve) => {
      const done = () => {
        this.wake = undefined;
        (h2 ?? call).off("drain", done);
        call.off("cancelled", done);
        call.off("close", done);
        h2?.off("close", done);
        resolve();
      };
      this.wake = done;
      (h2 ?? call).on("drain", done);
      call.on("cancelled", done);
      call.on("close", done);
      h2?.on("close", done);
    });
  }
}

/** HTTP/2 streams written to in this tick, uncorked together when it ends. */
const corked: ServerHttp2Stream[] = [];

function uncorkAll(): void {
  for (const h2 of corked.splice(0)) h2.uncork();
}

/**
 * Holds a stream's writes until the end of this tick: the events of a burst (a batch published as
 * many messages, read from Redis at once) then go out as one writev per stream instead of a write
 * each, which costs the server and the client's reads alike. Back-pressure is unchanged: corked
 * writes count in the stream's buffer, and ending the stream flushes them first.
 */
function corkForTick(h2: ServerHttp2Stream): void {
  if (h2.writableCorked > 0) return;
  h2.cork();
  if (corked.push(h2) === 1) process.nextTick(uncorkAll);
}

/**
 * The sink of a push stream on a grpc-js call: each response is encoded (or its shared bytes taken)
 * and written at once; when the socket's buffer is full, `send` says so and the producer is told
 * when it drains. The client's cancellation finishes the context (its signal aborts) and then
 * cancels the producer, as the pull loop did by returning the generator.
 */
class PushOut extends StreamOut implements StreamSink<unknown> {
  private listener: SinkListener | undefined;
  private cancelled = false;
  private finished = false;
  private opened = false;
  private readonly onCancel = () => this.cancel();

  constructor(
    call: grpc.ServerWritableStream<unknown, unknown>,
    private readonly ctx: LazyHandlerContext,
    private readonly method: DescMethod,
    private readonly encodeOutput: (message: unknown) => Buffer,
    private readonly logger: Logger,
  ) {
    super(call);
    if (call.cancelled) this.cancelled = true;
    else call.once("cancelled", this.onCancel);
  }

  send(response: unknown): boolean {
    if (this.cancelled || this.finished) return true;
    this.open();
    // An event fan-out encoded once goes to every stream as one shared frame, framed once.
    const shared = this.h2 && typeof response === "object" && response !== null ? getEncoded(response) : undefined;
    let room: boolean;
    if (shared && shared.byteLength < COPY_BELOW) {
      room = this.writeFrame(this.h2 as ServerHttp2Stream, sharedFrame(shared));
    } else {
      let bytes: Buffer;
      try {
        bytes = this.encodeOutput(response);
      } catch (err) {
        // A response that cannot be encoded ends this stream (INTERNAL, logged), not the producer's caller.
        this.fail(err);
        this.cancel();
        return true;
      }
      room = this.write(bytes);
    }
    if (room) return true;
    void this.drained().then(() => {
      if (!this.cancelled && !this.finished) this.listener?.drain();
    });
    return false;
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
    if (this.cancelled) listener.cancel();
    // The stream is accepted: its headers go now, not with its first event, so that an event
    // reaching many idle streams at once costs each a write, not a HEADERS frame besides.
    else this.open();
  }

  /** Response headers (the handler's, if it set any), once. */
  private open(): void {
    if (this.opened) return;
    this.opened = true;
    sendHeader(this.call, this.ctx, this.logger);
    this.sendHeaders();
  }

  /** The producer ended normally: OK, with the trailers it set. */
  end(): void {
    if (!this.settle()) return;
    const call = this.call;
    if (!call.cancelled) {
      sendHeader(call, this.ctx, this.logger);
      call.end(toMetadata(this.ctx.setResponseTrailer, this.logger));
    }
    this.ctx.finish();
  }

  /** The producer failed (or a response could not be encoded): its status. */
  fail(err: unknown): void {
    if (!this.settle()) return;
    const call = this.call;
    const status = toStatus(err, this.method, this.ctx, call.cancelled, this.logger);
    if (!call.cancelled) {
      sendHeader(call, this.ctx, this.logger);
      call.emit("error", status);
    }
    this.ctx.finish();
  }

  private settle(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.call.off("cancelled", this.onCancel);
    return true;
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.ctx.finish();
    this.listener?.cancel();
  }
}

/** gRPC frames of encodings shared by many streams (fan-out's), built once: weak, gone with the encoding. */
const frames = new WeakMap<Uint8Array, Buffer>();

function sharedFrame(bytes: Uint8Array): Buffer {
  let frame = frames.get(bytes);
  if (!frame) {
    frame = Buffer.allocUnsafe(bytes.byteLength + 5);
    frame[0] = 0; // not compressed
    frame.writeUInt32BE(bytes.byteLength, 1);
    frame.set(bytes, 5);
    frames.set(bytes, frame);
  }
  return frame;
}

const headerSent = new WeakSet<ServerCall>();

/**
 * Sends the response headers the handler set, if there are any (else grpc-js sends its own). A
 * unary call does it once, with its answer; a stream, before each write, through sendHeader.
 */
function sendUnaryHeader(call: ServerCall, ctx: LazyHandlerContext, logger: Logger): void {
  const headers = ctx.setResponseHeader;
  if (headers && !isEmpty(headers)) call.sendMetadata(toMetadata(headers, logger));
}

/** sendUnaryHeader, once per call. */
function sendHeader(call: ServerCall, ctx: LazyHandlerContext, logger: Logger): void {
  if (headerSent.has(call)) return;
  headerSent.add(call);
  sendUnaryHeader(call, ctx, logger);
}

function isEmpty(headers: Headers): boolean {
  for (const _ of headers.keys()) return false;
  return true;
}

/** Keys grpc-js writes itself; a handler's value for them would clash. */
const reserved = new Set([
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "content-type",
  "te",
  "grpc-encoding",
  "grpc-accept-encoding",
]);

/**
 * Headers to grpc-js Metadata. `-bin` values travel base64-encoded in Headers (connect's
 * convention, comma-joined when repeated) and become Buffers; keys grpc-js refuses are skipped.
 */
function toMetadata(headers: Headers | undefined, logger: Logger, into: grpc.Metadata = new grpc.Metadata()): grpc.Metadata {
  headers?.forEach((value, key) => {
    if (reserved.has(key)) return;
    try {
      if (key.endsWith("-bin")) {
        for (const part of value.split(",")) into.add(key, Buffer.from(part.trim(), "base64"));
      } else {
        into.add(key, value);
      }
    } catch (err) {
      logger.warn({ err, key }, "metadata key not sendable over gRPC, skipped");
    }
  });
  return into;
}

function unimplemented(method: DescMethod): Partial<grpc.StatusObject> {
  return { code: grpc.status.UNIMPLEMENTED, details: `${method.parent.typeName}.${method.name} is not implemented` };
}

/**
 * A ConnectError keeps its code (connect's codes are gRPC's), message, metadata (as trailers) and
 * details (as a google.rpc.Status in grpc-status-details-bin). Anything else is a bug: INTERNAL,
 * logged, and nothing of it reaches the client.
 */
function toStatus(
  err: unknown,
  method: DescMethod,
  ctx: LazyHandlerContext,
  cancelled: boolean,
  logger: Logger,
): Partial<grpc.StatusObject> {
  if (!(err instanceof ConnectError)) {
    // After a cancellation nobody will see the status, and failures are usually its echo.
    if (cancelled) logger.debug({ method: method.name, err: String(err) }, "handler failed after the client cancelled");
    else logger.error({ err, method: `${method.parent.typeName}/${method.name}` }, "handler failed");
    return { code: grpc.status.INTERNAL, details: "internal error" };
  }
  const metadata = toMetadata(ctx.setResponseTrailer, logger);
  // The error's own metadata wins over trailers the handler set before failing.
  const fromError = toMetadata(err.metadata, logger);
  for (const key of Object.keys(fromError.getMap())) metadata.remove(key);
  metadata.merge(fromError);
  const status = create(StatusSchema, {
    code: err.code,
    message: err.rawMessage,
    details: err.details.map(
      (d): Any =>
        "desc" in d
          ? anyPack(d.desc, create(d.desc, d.value))
          : { $typeName: "google.protobuf.Any", typeUrl: `type.googleapis.com/${d.type}`, value: d.value },
    ),
  });
  metadata.set("grpc-status-details-bin", toBuffer(toBinary(StatusSchema, status)));
  return { code: err.code as number as grpc.status, details: err.rawMessage, metadata };
}
