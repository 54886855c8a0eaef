import * as grpc from "@grpc/grpc-js";
import { createGrpcServer } from "../core/transport/grpc-server.js";
import { bindService } from "../core/transport/service-binding.js";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import { silentLogger } from "../core/logger.js";

/**
 * A second reference for bench:grpc: Herald's own gRPC server (the grpc-js bridge for connect-es
 * handlers, with health and reflection) serving a SendEvent handler that answers at once. Set
 * beside the bare echo it shows what the bridge costs; beside Herald, what SendEvent's work costs.
 */
const { server } = createGrpcServer({
  logger: silentLogger,
  services: [bindService(HubService, { sendEvent: async () => ({ msgId: "1", offset: 1n, invalidSubscribers: [] }) })],
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(JSON.stringify({ port }) + "\n");
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
