import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, createFileRegistry, fromBinary, fromJson, toBinary, toJson, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { startTestHerald, type TestHerald } from "../support/herald.js";

// ---------------------------------------------------------------------------------------------
// The client side knows nothing of Herald: the reflection protocol's own .proto (as shipped with
// @grpc/reflection), and from there only what the server sends.

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
const reflectionProtoDir = join(root, "node_modules/@grpc/reflection/build/proto");

type Version = "v1" | "v1alpha";
const clientOf: Record<Version, grpc.ServiceClientConstructor> = {
  v1: reflectionClient("v1"),
  v1alpha: reflectionClient("v1alpha"),
};

function reflectionClient(version: Version): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [reflectionProtoDir] });
  return (grpc.loadPackageDefinition(definition) as any).grpc.reflection[version].ServerReflection;
}

/** Sends the requests on one ServerReflectionInfo stream; resolves with the answers, rejects with the stream's error. */
async function reflect(port: number, version: Version, requests: object[], authorization?: string): Promise<any[]> {
  const client = new clientOf[version](`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  try {
    const metadata = new grpc.Metadata();
    if (authorization !== undefined) metadata.set("authorization", authorization);
    const call: grpc.ClientDuplexStream<object, any> = client["serverReflectionInfo"](metadata);
    const answers: any[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("data", (a) => answers.push(a));
      call.on("error", reject);
      call.on("end", resolve);
    });
    for (const r of requests) call.write(r);
    call.end();
    await ended;
    return answers;
  } finally {
    client.close();
  }
}

const filesOf = (answer: any): FileDescriptorProto[] => {
  assert.ok(answer.fileDescriptorResponse, `not a file answer: ${JSON.stringify(answer.errorResponse ?? answer)}`);
  return (answer.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) => fromBinary(FileDescriptorProtoSchema, b));
};
const namesOf = (answer: any) => filesOf(answer).map((f) => f.name);

/**
 * A registry built from the fetched files alone: it fails if any import is missing. A
 * FileDescriptorSet lists imports before their importers; an answer lists the asked file first.
 */
function registryOf(files: FileDescriptorProto[]): FileRegistry {
  const ordered: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto) => {
    if (ordered.includes(f)) return;
    for (const d of f.dependency) {
      const dependency = files.find((g) => g.name === d);
      if (dependency) visit(dependency);
    }
    ordered.push(f);
  };
  files.forEach(visit);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
}

const bytes = (b: Uint8Array) => Buffer.from(b);
const identity = (b: Buffer) => b;

const herald = ["herald.v1.ClientService", "herald.v1.DeliveryService", "herald.v1.HubService", "herald.v1.RegistryService"];

describe("server reflection for stock tools (a real Herald, seeded)", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald({ server: { seedFile: "examples/seed.yaml" } });
  });
  after(() => h.stop());

  for (const version of ["v1", "v1alpha"] as const) {
    it(`lists the services over ${version}`, async () => {
      const [answer] = await reflect(h.grpcPort, version, [{ listServices: "*" }]);
      assert.deepEqual(answer.listServicesResponse.service.map((s: { name: string }) => s.name).sort(), herald);
      assert.equal(answer.originalRequest.listServices, "*");
    });
  }

  it("lets a client that knows only reflection build a SendEventRequest, call SendEvent and read the reply", async () => {
    const [answer] = await reflect(h.grpcPort, "v1", [{ fileContainingSymbol: "herald.v1.HubService" }]);
    const files = filesOf(answer);
    // The real files, the asked one first, with every import (well-known types included).
    assert.equal(files[0]?.name, "herald/v1/hub.proto");
    assert.deepEqual(files.map((f) => f.name).sort(), [
      "google/protobuf/struct.proto",
      "google/protobuf/timestamp.proto",
      "herald/v1/event.proto",
      "herald/v1/handler.proto",
      "herald/v1/hub.proto",
      "herald/v1/push.proto",
    ]);
    assert.deepEqual(files[0]?.dependency, [
      "google/protobuf/struct.proto",
      "google/protobuf/timestamp.proto",
      "herald/v1/event.proto",
      "herald/v1/push.proto",
    ]);

    const registry = registryOf(files);
    const service = registry.getService("herald.v1.HubService");
    assert.ok(service, "herald.v1.HubService not in the fetched files");
    const sendEvent = service.methods.find((m) => m.name === "SendEvent")!;
    assert.equal(sendEvent.input.typeName, "herald.v1.SendEventRequest");
    assert.ok(
      sendEvent.input.fields.some((f) => f.name === "event_id" && f.jsonName === "eventId"),
      sendEvent.input.fields.map((f) => f.name).join(","),
    );

    const request = fromJson(
      sendEvent.input,
      {
        app_id: "demo",
        event_id: "1",
        subscribers: [{ ksid: "xxxx" }],
        name_pairs: [{ name: "lastname", content: "Smith" }],
        payload: { order: 42 },
      },
      { registry },
    );
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const client = new grpc.Client(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure());
      client.makeUnaryRequest(
        `/${service.typeName}/${sendEvent.name}`,
        bytes,
        identity,
        bytes(toBinary(sendEvent.input, request)),
        (err, res) => {
          client.close();
          if (err) reject(err);
          else resolve(res!);
        },
      );
    });
    const json = toJson(sendEvent.output, fromBinary(sendEvent.output, reply), { useProtoFieldName: true, registry }) as {
      msg_id: string;
      offset: string;
    };
    assert.match(json.msg_id, /^\d+$/);
    assert.match(json.offset, /^\d+$/);
    assert.deepEqual(Object.keys(json).sort(), ["msg_id", "offset"]);
  });

  it("finds the file of nested messages, enums, enum values, methods and fields; NOT_FOUND for unknown symbols", async () => {
    const asked = [
      "herald.v1.Action.HeadersEntry", // a map entry, nested in Action
      "google.protobuf.Struct.FieldsEntry",
      "herald.v1.DeliveryState",
      "herald.v1.DELIVERY_STATE_QUEUED",
      "herald.v1.HubService.SendEvent",
      "herald.v1.WatchEventsRequest.resume_after",
      "herald.v1.Nope",
    ];
    for (const version of ["v1", "v1alpha"] as const) {
      const answers = await reflect(
        h.grpcPort,
        version,
        asked.map((fileContainingSymbol) => ({ fileContainingSymbol })),
      );
      assert.deepEqual(
        answers.slice(0, -1).map((a) => namesOf(a)[0]),
        [
          "herald/v1/eventhos.proto",
          "google/protobuf/struct.proto",
          "herald/v1/hub.proto",
          "herald/v1/hub.proto",
          "herald/v1/hub.proto",
          "herald/v1/hub.proto",
        ],
      );
      // The map entry as protoc declares it (protobuf-es registries keep map entries out of sight).
      const action = filesOf(answers[0])[0]?.messageType.find((m) => m.name === "Action");
      assert.equal(action?.nestedType.find((m) => m.name === "HeadersEntry")?.options?.mapEntry, true);
      assert.equal(registryOf(filesOf(answers[0])).getMessage("herald.v1.Action")?.field["headers"]?.fieldKind, "map");
      assert.equal(registryOf(filesOf(answers[2])).getEnum("herald.v1.DeliveryState")?.values.length, 5);
      // proto3 `optional` keeps its synthetic oneof.
      const resumeAfter = registryOf(filesOf(answers[5])).getMessage("herald.v1.WatchEventsRequest")?.field["resumeAfter"];
      assert.equal(resumeAfter?.proto.proto3Optional, true);

      const notFound = answers.at(-1);
      assert.equal(notFound.errorResponse.errorCode, grpc.status.NOT_FOUND);
      assert.equal(notFound.originalRequest.fileContainingSymbol, "herald.v1.Nope");
    }
  });

  it("answers file_by_filename with the file's imports, and the extension requests (none here)", async () => {
    const [hub, status, missing, numbers, unknownType, extension] = await reflect(h.grpcPort, "v1", [
      { fileByFilename: "herald/v1/hub.proto" },
      { fileByFilename: "google/rpc/status.proto" },
      { fileByFilename: "herald_v1.proto" },
      { allExtensionNumbersOfType: "herald.v1.Event" },
      { allExtensionNumbersOfType: "herald.v1.Nope" },
      { fileContainingExtension: { containingType: "herald.v1.Event", extensionNumber: 100 } },
    ]);
    assert.equal(namesOf(hub)[0], "herald/v1/hub.proto");
    assert.equal(namesOf(hub).length, 6);
    // The error details Herald sends are offered too, so that tools can print them.
    assert.deepEqual(namesOf(status), ["google/rpc/status.proto", "google/protobuf/any.proto"]);
    assert.ok(registryOf(filesOf(status)).getMessage("google.rpc.Status"));
    assert.equal(missing.errorResponse.errorCode, grpc.status.NOT_FOUND);
    assert.equal(numbers.allExtensionNumbersResponse.baseTypeName, "herald.v1.Event");
    assert.deepEqual(numbers.allExtensionNumbersResponse.extensionNumber ?? [], []);
    assert.equal(unknownType.errorResponse.errorCode, grpc.status.NOT_FOUND);
    assert.equal(extension.errorResponse.errorCode, grpc.status.NOT_FOUND);
  });

  it("ends the stream with INVALID_ARGUMENT for a request that asks nothing", async () => {
    const err: grpc.ServiceError = await reflect(h.grpcPort, "v1", [{ host: "x" }]).then(
      () => assert.fail("expected the stream to fail"),
      (e) => e,
    );
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  });

  // The stock tool: buf (a dev dependency, the one that generates core/gen) speaks server reflection.
  const buf = join(root, "node_modules/.bin/buf");
  const run = promisify(execFile);
  for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
    it(`serves buf curl, which knows only what reflection tells it (${protocol})`, async () => {
      const { stdout } = await run(
        buf,
        [
          "curl",
          "--protocol",
          "grpc",
          "--http2-prior-knowledge",
          "--reflect-protocol",
          protocol,
          "--data",
          JSON.stringify({ event_id: "1", subscribers: [{ ksid: "xxxx" }], name_pairs: [{ name: "lastname", content: "Smith" }] }),
          `http://127.0.0.1:${h.grpcPort}/herald.v1.HubService/SendEvent`,
        ],
        { timeout: 15_000 },
      );
      const reply = JSON.parse(stdout) as { msgId: string; offset: string };
      assert.match(reply.msgId, /^\d+$/);
      assert.match(reply.offset, /^\d+$/);
    });
  }
});

describe("server reflection and health with access control on", () => {
  const ADMIN = "reflection-admin-key-0123";
  const list = [{ listServices: "" }];
  const services = (answers: any[]) => answers[0].listServicesResponse.service.map((x: { name: string }) => x.name);

  it("keyed (the default): refuses a caller without a valid credential, answers one with any", async () => {
    const h = await startTestHerald({ auth: { adminKey: ADMIN } });
    try {
      for (const authorization of [undefined, "Bearer wrong", "Basic YTpi"]) {
        const err = (await reflect(h.grpcPort, "v1", list, authorization).then(
          () => undefined,
          (e: unknown) => e,
        )) as grpc.ServiceError | undefined;
        assert.equal(err?.code, grpc.status.UNAUTHENTICATED, String(authorization));
      }
      const { secret } = await new Promise<any>((resolve, reject) =>
        h.clients.registry["createApiKey"]({ name: "r", roles: ["ROLE_WATCH"], appIds: ["demo"] }, (e: Error | null, r: any) =>
          e ? reject(e) : resolve(r),
        ),
      );
      assert.ok(services(await reflect(h.grpcPort, "v1alpha", list, `Bearer ${secret}`)).includes("herald.v1.HubService"));
      assert.ok(services(await reflect(h.grpcPort, "v1", list, `Bearer ${ADMIN}`)).includes("herald.v1.RegistryService"));
      // Health stays open: load balancers and orchestrators send no credential.
      const definition = protoLoader.loadSync(join(root, "node_modules/grpc-health-check/proto/health/v1/health.proto"), {
        keepCase: true,
        enums: String,
      });
      const Health = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1.Health as grpc.ServiceClientConstructor;
      const health = new Health(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
      try {
        const status = await new Promise<any>((resolve, reject) =>
          health["check"]({ service: "" }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))),
        );
        assert.equal(status.status, "SERVING");
      } finally {
        health.close();
      }
    } finally {
      await h.stop();
    }
  });

  it("--reflection open: answers anyone", async () => {
    const h = await startTestHerald({ auth: { adminKey: ADMIN, reflection: "open" } });
    try {
      assert.ok(services(await reflect(h.grpcPort, "v1", list)).includes("herald.v1.HubService"));
    } finally {
      await h.stop();
    }
  });
});
