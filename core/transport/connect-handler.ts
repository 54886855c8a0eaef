import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { create, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { getEncoded } from "../wire/pre-encoded.js";
import { streamFlowKey, type StreamFlow } from "../wire/stream-flow.js";
import type { ServiceBinding } from "./service-binding.js";

export interface ConnectHandlerOptions {
  services: ServiceBinding[];
  /** Aborts every handler's signal (shutdown). */
  shutdownSignal: AbortSignal;
  /** Largest request message (bytes). */
  readMaxBytes: number;
  /** Every request that is not a Connect / gRPC-Web call of these services. */
  fallback: RequestListener;
}

/**
 * Serves the services over Connect and gRPC-Web on an HTTP/1.1 port, and passes every other request
 * to `fallback`. gRPC itself is grpc-js's, on its own port.
 */
export function createConnectHandler(options: ConnectHandlerOptions): RequestListener {
  const shared = new WeakMap<IncomingMessage, SharedWrites>();
  const connect = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const { service, impl } of options.services) router.service(service, withSharedWrites(service.methods, impl));
    },
    grpc: false,
    shutdownSignal: options.shutdownSignal,
    readMaxBytes: options.readMaxBytes,
    contextValues: (req) => {
      const values = createContextValues();
      const writes = shared.get(req as IncomingMessage);
      if (writes) values.set(streamFlowKey, writes);
      return values;
    },
    // The port is HTTP/1.1 (node:http createServer), so the request really is an IncomingMessage.
    fallback: (req, res) => void options.fallback(req as IncomingMessage, res as ServerResponse),
  });
  // Connect routes are all /<package>.<Service>/<Method>: only those go through the adapter, so
  // other requests skip its routing (measured: ~15% of a facade request's CPU).
  const prefixes = [
    ...new Set(options.services.map(({ service }) => `/${service.typeName.slice(0, service.typeName.lastIndexOf(".") + 1)}`)),
  ];
  const streaming = new Set(
    options.services.flatMap(({ service }) =>
      service.methods.filter((m) => m.methodKind === "server_streaming").map((m) => `/${service.typeName}/${m.name}`),
    ),
  );
  return (req, res) => {
    const url = req.url ?? "";
    if (!prefixes.some((p) => url.startsWith(p))) {
      options.fallback(req, res);
      return;
    }
    if (req.method === "POST" && streaming.has(url) && binaryStream.test(req.headers["content-type"] ?? "")) {
      shared.set(req, new SharedWrites(res));
    }
    connect(req, res);
  };
}

/** Binary Connect and gRPC-Web streams: their envelopes are the 5-byte prefix and the protobuf bytes. */
const binaryStream = /^application\/(connect\+proto|grpc-web(\+proto)?)\s*(;|$)/i;

/**
 * A binary Connect or gRPC-Web server stream whose responses are written from the bytes the
 * handler side already has (fan-out encodes an event once for every stream), not from connect-es's
 * encoding of each message for each stream (toBinary, then the envelope: two copies per stream,
 * kept while the reader does not read). The handler yields an empty message in place of each
 * response and queues its bytes here; the empty message's envelope (five zero bytes) is written as
 * the prefix and those bytes, by reference. connect-node writes one envelope a call, in order, and
 * waits for 'drain' before pulling the next.
 */
class SharedWrites implements StreamFlow {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;

  constructor(private readonly res: ServerResponse) {
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      const bytes = isEmptyEnvelope(chunk) ? this.queue.shift() : undefined;
      if (!bytes) return write(chunk, ...rest);
      this.queuedBytes -= bytes.byteLength;
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(bytes.byteLength, 1);
      write(prefix);
      return write(bytes, ...rest);
    }) as typeof res.write;
  }

  /** The bytes of the next response; the handler yields an empty message for it. */
  add(bytes: Uint8Array): void {
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
  }

  pendingBytes(): number {
    return this.queuedBytes + this.res.writableLength;
  }

  interrupt(): void {
    // connect-node waits for the response's 'drain' before it pulls the handler again.
    if (this.res.writableNeedDrain) this.res.emit("drain");
  }
}

function isEmptyEnvelope(chunk: unknown): boolean {
  return chunk instanceof Uint8Array && chunk.byteLength === 5 && chunk.every((b) => b === 0);
}

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;

/** The impl with its server-streaming methods yielding through SharedWrites when the request has one. */
function withSharedWrites(methods: readonly DescMethod[], impl: object): object {
  const out: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const method of methods) {
    const fn = (impl as Record<string, AnyHandler | undefined>)[method.localName];
    if (method.methodKind !== "server_streaming" || !fn) continue;
    const empty = create(method.output);
    out[method.localName] = async function* (req: unknown, ctx: HandlerContext) {
      const writes = ctx.values.get(streamFlowKey);
      const responses = fn(req, ctx) as AsyncIterable<object>;
      if (!(writes instanceof SharedWrites)) {
        yield* responses;
        return;
      }
      for await (const response of responses) {
        writes.add(getEncoded(response) ?? toBinary(method.output, create(method.output, response as never)));
        yield empty;
      }
    };
  }
  return out;
}
