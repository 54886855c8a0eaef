import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { HealthImplementation } from "grpc-health-check";
import { ReflectionService } from "@grpc/reflection";
import { addService, type AddServiceOptions } from "./grpc-bridge.js";
import type { ServiceBinding } from "./service-binding.js";

export interface GrpcServerOptions extends AddServiceOptions {
  services: ServiceBinding[];
  maxReceiveMessageLength?: number;
  /** Absolute paths of the .proto files offered by server reflection. */
  reflectionProtoFiles: string[];
  /** The folder their imports resolve from (google/protobuf well-known types come with proto-loader). */
  protoIncludeDir: string;
}

/**
 * A grpc-js server for connect-es handlers, with the standard grpc.health.v1.Health service
 * (overall "" and every service SERVING until the caller says otherwise) and server reflection.
 * Binding is the caller's job (`server.bindAsync`).
 */
export function createGrpcServer(options: GrpcServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const server = new grpc.Server(
    options.maxReceiveMessageLength !== undefined ? { "grpc.max_receive_message_length": options.maxReceiveMessageLength } : {},
  );
  const context: AddServiceOptions = {
    logger: options.logger,
    ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
  };
  for (const { service, impl, encoders } of options.services) {
    addService(server, service, impl, context, encoders);
  }
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(options.services.map((s) => [s.service.typeName, "SERVING" as const])),
  });
  health.addToServer(server);
  // proto-loader (protobufjs) bundles google/protobuf/*.proto: struct, timestamp, any, ... resolve
  // without being on the include path.
  const definition = protoLoader.loadSync(options.reflectionProtoFiles, { includeDirs: [options.protoIncludeDir] });
  new ReflectionService(definition).addToServer(server);
  return { server, health };
}
