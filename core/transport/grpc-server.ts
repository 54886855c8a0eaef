import * as grpc from "@grpc/grpc-js";
import type { DescFile } from "@bufbuild/protobuf";
import { HealthImplementation } from "grpc-health-check";
import { addService, type AddServiceOptions } from "./grpc-bridge.js";
import { DescriptorIndex } from "./descriptor-index.js";
import { addReflectionService, type ReflectionGuard } from "./reflection-service.js";
import type { ServiceBinding } from "./service-binding.js";

export interface GrpcServerOptions extends AddServiceOptions {
  services: ServiceBinding[];
  maxReceiveMessageLength?: number;
  /** Most streams (calls) open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams?: number;
  /**
   * Files server reflection offers besides those of the services and everything they import (always
   * offered): e.g. the types of the error details the services send, so that clients can print them.
   */
  reflectionFiles?: DescFile[];
  /** Who may use server reflection; absent: everyone. */
  reflectionGuard?: ReflectionGuard;
}

/**
 * A grpc-js server for connect-es handlers, with the standard grpc.health.v1.Health service
 * (overall "" and every service SERVING until the caller says otherwise) and server reflection
 * (grpc.reflection.v1 and v1alpha) of the services' own descriptors.
 * Binding is the caller's job (`server.bindAsync`).
 */
export function createGrpcServer(options: GrpcServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const server = new grpc.Server({
    ...(options.maxReceiveMessageLength !== undefined ? { "grpc.max_receive_message_length": options.maxReceiveMessageLength } : {}),
    ...(options.maxConcurrentStreams ? { "grpc.max_concurrent_streams": options.maxConcurrentStreams } : {}),
  });
  const context: AddServiceOptions = {
    logger: options.logger,
    ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
    ...(options.malformedRequest ? { malformedRequest: options.malformedRequest } : {}),
  };
  for (const { service, impl, encoders, decoders } of options.services) {
    addService(server, service, impl, context, encoders, decoders);
  }
  const health = new HealthImplementation({
    "": "SERVING",
    ...Object.fromEntries(options.services.map((s) => [s.service.typeName, "SERVING" as const])),
  });
  health.addToServer(server);
  addReflectionService(
    server,
    new DescriptorIndex(
      options.services.map((s) => s.service),
      options.reflectionFiles,
    ),
    options.reflectionGuard,
  );
  return { server, health };
}

/**
 * Caps the connections of a bound grpc-js server: past `max`, a new connection is closed at once.
 * grpc-js has no option for it, so this sets `maxConnections` on its listening net servers (its
 * private `http2Servers`); returns false when that field is not there (another grpc-js version).
 */
export function capGrpcConnections(server: grpc.Server, max: number): boolean {
  const listening = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listening instanceof Map)) return false;
  for (const net of listening.keys()) (net as { maxConnections: number }).maxConnections = max;
  return true;
}
