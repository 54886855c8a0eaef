import * as grpc from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { DescriptorIndex } from "./descriptor-index.js";

/**
 * Both versions of the protocol: v1, and v1alpha (the same messages), which grpcurl and buf curl
 * still try or fall back to.
 */
const packages = ["grpc.reflection.v1", "grpc.reflection.v1alpha"];

/**
 * Adds the gRPC server reflection service (ServerReflectionInfo, a bidi stream answering each
 * request in turn) to a grpc-js server, answering from the descriptors in `index`. Its few messages
 * are read and written here with protobuf-es's wire primitives.
 */
/**
 * Checks the caller of a reflection stream from its `authorization` metadata; rejects with a
 * ConnectError (its code is the gRPC status the stream ends with) when it may not reflect.
 */
export type ReflectionGuard = (authorization: string | undefined) => Promise<void>;

export function addReflectionService(server: grpc.Server, index: DescriptorIndex, guard?: ReflectionGuard): void {
  const bytes = (b: Buffer) => b;
  for (const pkg of packages) {
    const method: grpc.MethodDefinition<Buffer, Buffer> = {
      path: `/${pkg}.ServerReflection/ServerReflectionInfo`,
      requestStream: true,
      responseStream: true,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
      originalName: "serverReflectionInfo",
    };
    const handler: grpc.handleBidiStreamingCall<Buffer, Buffer> = (call) => {
      if (!guard) return serve(call, index);
      const header = call.metadata.get("authorization")[0];
      // Until the guard answers no "data" listener is attached: requests wait in the stream's buffer.
      guard(header === undefined ? undefined : String(header)).then(
        () => serve(call, index),
        (err: unknown) => {
          const code = typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : grpc.status.UNAUTHENTICATED;
          const details = (err as { rawMessage?: string }).rawMessage ?? (err instanceof Error ? err.message : String(err));
          call.emit("error", { code, details });
        },
      );
    };
    server.addService({ ServerReflectionInfo: method }, { ServerReflectionInfo: handler });
  }
}

function serve(call: grpc.ServerDuplexStream<Buffer, Buffer>, index: DescriptorIndex): void {
  let failed = false;
  call.on("data", (request: Buffer) => {
    if (failed) return;
    let response: Uint8Array;
    try {
      response = answer(request, index);
    } catch (err) {
      // A request that asks nothing known ends the stream with INVALID_ARGUMENT, as in grpc-go; so does one that cannot be read.
      failed = true;
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: err instanceof Error ? err.message : String(err) });
      return;
    }
    // Back-pressure: read no more requests until the client has taken the answers.
    if (!call.write(Buffer.from(response.buffer, response.byteOffset, response.byteLength))) {
      call.pause();
      call.once("drain", () => call.resume());
    }
  });
  call.on("end", () => {
    if (!failed) call.end();
  });
}

/** Field numbers of ServerReflectionRequest's message_request oneof. */
const Ask = {
  FileByFilename: 3,
  FileContainingSymbol: 4,
  FileContainingExtension: 5,
  AllExtensionNumbersOfType: 6,
  ListServices: 7,
} as const;
type Ask = (typeof Ask)[keyof typeof Ask];

interface Request {
  host: string;
  /** Which member of message_request is set (the last one read wins, as for any oneof). */
  ask: Ask | undefined;
  /** The string member's value, or ExtensionRequest.containing_type. */
  name: string;
  /** ExtensionRequest.extension_number. */
  number: number;
}

type Response =
  | { files: Uint8Array[] }
  | { extensionNumbers: { type: string; numbers: number[] } }
  | { services: readonly string[] }
  | { error: { code: grpc.status; message: string } };

function answer(bytes: Uint8Array, index: DescriptorIndex): Uint8Array {
  const request = readRequest(bytes);
  const { name, number } = request;
  const files = (found: Uint8Array[] | undefined, what: string): Response =>
    found ? { files: found } : { error: { code: grpc.status.NOT_FOUND, message: `${what} not found` } };
  let response: Response;
  switch (request.ask) {
    case Ask.ListServices:
      response = { services: index.serviceNames };
      break;
    case Ask.FileByFilename:
      response = files(index.fileByName(name), `file ${name}`);
      break;
    case Ask.FileContainingSymbol:
      response = files(index.fileContainingSymbol(name), `symbol ${name}`);
      break;
    case Ask.FileContainingExtension:
      response = files(index.fileContainingExtension(name, number), `extension ${number} of ${name}`);
      break;
    case Ask.AllExtensionNumbersOfType: {
      const numbers = index.extensionNumbers(name);
      response = numbers
        ? { extensionNumbers: { type: name, numbers } }
        : { error: { code: grpc.status.NOT_FOUND, message: `message type ${name} not found` } };
      break;
    }
    default:
      throw new Error("invalid MessageRequest: none set");
  }
  return writeResponse(request.host, bytes, response);
}

/** A ServerReflectionRequest. Fields of an unexpected wire type are skipped as unknown, as protobuf does. */
function readRequest(bytes: Uint8Array): Request {
  const request: Request = { host: "", ask: undefined, name: "", number: 0 };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    switch (field) {
      case 1:
        request.host = reader.string();
        break;
      case Ask.FileByFilename:
      case Ask.FileContainingSymbol:
      case Ask.AllExtensionNumbersOfType:
      case Ask.ListServices:
        request.ask = field;
        request.name = reader.string();
        request.number = 0;
        break;
      case Ask.FileContainingExtension: {
        request.ask = field;
        request.name = "";
        request.number = 0;
        const extension = new BinaryReader(reader.bytes());
        while (extension.pos < extension.len) {
          const [f, w] = extension.tag();
          if (f === 1 && w === WireType.LengthDelimited) request.name = extension.string();
          else if (f === 2 && w === WireType.Varint) request.number = extension.int32();
          else extension.skip(w, f);
        }
        break;
      }
      default:
        reader.skip(wireType, field);
    }
  }
  return request;
}

/** A ServerReflectionResponse; original_request is the request's own bytes. */
function writeResponse(host: string, request: Uint8Array, response: Response): Uint8Array {
  const w = new BinaryWriter();
  const LEN = WireType.LengthDelimited;
  if (host) w.tag(1, LEN).string(host);
  w.tag(2, LEN).bytes(request);
  if ("files" in response) {
    w.tag(4, LEN).fork();
    for (const file of response.files) w.tag(1, LEN).bytes(file);
    w.join();
  } else if ("extensionNumbers" in response) {
    const { type, numbers } = response.extensionNumbers;
    w.tag(5, LEN).fork().tag(1, LEN).string(type);
    if (numbers.length) {
      w.tag(2, LEN).fork();
      for (const n of numbers) w.int32(n);
      w.join();
    }
    w.join();
  } else if ("services" in response) {
    w.tag(6, LEN).fork();
    for (const name of response.services) w.tag(1, LEN).fork().tag(1, LEN).string(name).join();
    w.join();
  } else {
    w.tag(7, LEN).fork().tag(1, WireType.Varint).int32(response.error.code).tag(2, LEN).string(response.error.message).join();
  }
  return w.finish();
}
