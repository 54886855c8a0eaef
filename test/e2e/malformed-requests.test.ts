import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { ScalarType, type DescMethod } from "@bufbuild/protobuf";
import { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import { RegistryService } from "../../core/gen/herald/v1/registry_pb.js";
import { ClientService, DeliveryService } from "../../core/gen/herald/v1/eventhos_pb.js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { withKey } from "../support/grpc-client.js";

const ADMIN = "malformed-requests-admin-key";
const methods = [HubService, RegistryService, ClientService, DeliveryService].flatMap((s) => s.methods);

/** Bytes that are no message of the method's input: every decoder refuses them. */
function malformed(method: DescMethod): Array<[string, Buffer]> {
  const cases: Array<[string, Buffer]> = [
    ["a length-delimited field longer than the body", Buffer.from([0x0a, 0x05, 0x61])],
    ["a truncated varint", Buffer.from([0x08, 0x80])],
    ["wire type 7", Buffer.from([0x0f, 0x00])],
  ];
  const text = method.input.fields.find((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING);
  if (text) cases.push([`invalid UTF-8 in ${text.name}`, Buffer.from([(text.number << 3) | 2, 2, 0xff, 0xfe])]);
  return cases;
}

const identity = (b: Buffer) => b;

/** A call of raw bytes over grpc-js; resolves with its status (streams read to the end). */
function call(client: grpc.Client, method: DescMethod, body: Buffer): Promise<grpc.StatusObject> {
  const path = `/${method.parent.typeName}/${method.name}`;
  return new Promise((resolve) => {
    if (method.methodKind === "server_streaming") {
      const stream = client.makeServerStreamRequest(path, identity, identity, body);
      stream.on("data", () => undefined);
      stream.on("error", () => undefined);
      stream.on("status", resolve);
    } else {
      const unary = client.makeUnaryRequest(path, identity, identity, body, () => undefined);
      unary.on("status", resolve);
    }
  });
}

describe("malformed requests (access control on)", () => {
  let h: TestHerald;
  let client: grpc.Client;
  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN } });
    client = new grpc.Client(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure(), withKey(ADMIN));
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  it(`gRPC: every method (${methods.length}) answers INVALID_ARGUMENT with reason MALFORMED_REQUEST, never INTERNAL`, async () => {
    const wrong: string[] = [];
    let calls = 0;
    for (const method of methods) {
      for (const [what, body] of malformed(method)) {
        const status = await call(client, method, body);
        calls++;
        const reason = status.metadata.get("herald-reason")[0];
        if (
          status.code !== grpc.status.INVALID_ARGUMENT ||
          reason !== "MALFORMED_REQUEST" ||
          !status.details.includes(method.input.typeName)
        ) {
          wrong.push(`${method.name} (${what}): ${grpc.status[status.code]} ${String(reason)} "${status.details}"`);
        }
      }
    }
    assert.ok(calls > methods.length * 3, `${calls} calls`);
    assert.deepEqual(wrong, []);
  });

  // connect-es answers binary bodies it cannot parse INTERNAL ("parse binary: …") before any
  // handler runs; JSON ones, which is what Connect clients send by default, INVALID_ARGUMENT.
  it("Connect JSON: malformed bodies are INVALID_ARGUMENT", async () => {
    const wrong: string[] = [];
    for (const method of methods.filter((m) => m.methodKind === "unary")) {
      const text = method.input.fields.find((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING);
      const bodies = ["{", "[1]", ...(text ? [`{"${text.jsonName}": {"not": "a string"}}`] : [])];
      for (const body of bodies) {
        const res = await fetch(`http://127.0.0.1:${h.httpPort}/${method.parent.typeName}/${method.name}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
          body,
        });
        const answer = (await res.json()) as { code?: string };
        if (res.status !== 400 || answer.code !== "invalid_argument")
          wrong.push(`${method.name} (${body}): ${res.status} ${JSON.stringify(answer)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("a well-formed request on the same connection still works after them", async () => {
    const status = await call(client, HubService.method.getMessageStatus, Buffer.from([0x0a, 0x01, 0x72]));
    assert.equal(status.code, grpc.status.NOT_FOUND);
    assert.equal(status.metadata.get("herald-reason")[0], "MESSAGE_NOT_FOUND");
  });
});
