import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HubService, SendEventRequestSchema, SendEventResponseSchema } from "../core/gen/herald/v1/hub_pb.js";

/**
 * The ceiling for bench:grpc: a bare grpc-js server answering SendEvent with a fixed reply, with the
 * same protobuf-es codec Herald uses, so the difference is Herald's own work.
 */
const reply = Buffer.from(toBinary(SendEventResponseSchema, create(SendEventResponseSchema, { msgId: "1", offset: 1n })));
const method = HubService.method.sendEvent;
const server = new grpc.Server();
server.addService(
  {
    sendEvent: {
      path: `/${HubService.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: Buffer) => m,
      requestDeserialize: (b: Buffer) => fromBinary(SendEventRequestSchema, b),
      responseSerialize: (m: Buffer) => m,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  { sendEvent: (_call: grpc.ServerUnaryCall<unknown, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, reply) },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(JSON.stringify({ port }) + "\n");
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
