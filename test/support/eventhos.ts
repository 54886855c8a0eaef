import { strict as assert } from "node:assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { http, type HttpReply } from "./http.js";
import { withKey, type RawClient } from "./grpc-client.js";

export const ADMIN_TOKEN = "admin-token-for-tests";

export interface Reply extends HttpReply {
  json: { code: number; message: string; content?: any };
}

/** The eventhos HTTP surface of one Herald (its HTTP port). */
export class EventhosApi {
  constructor(
    readonly port: number,
    private readonly adminToken = ADMIN_TOKEN,
  ) {}

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const r = await http(this.url(path), method, text, {
      ...(text !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    });
    let json: Reply["json"];
    try {
      json = JSON.parse(r.body);
    } catch {
      throw new Error(`not JSON (${r.status}): ${r.body}`);
    }
    return { ...r, json };
  }

  /** An admin call that must succeed; returns its content. */
  async admin(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.call(method, path, body, { authorization: `Bearer ${this.adminToken}` });
    assert.equal(r.json.code, 200000, `${method} ${path}: ${r.body}`);
    assert.equal(r.status, 200);
    return r.json.content;
  }

  async token(clientId: string, secret: string): Promise<string> {
    const r = await this.call("POST", "/auth/token", { grant_type: "client_credentials", client_id: clientId, client_secret: secret });
    assert.equal(r.json.code, 200000, r.body);
    return r.json.content.access_token as string;
  }

  send(eventId: string, key: string, body: unknown, headers: Record<string, string> = {}, query = ""): Promise<Reply> {
    return this.call("POST", `/event/send?event-identifier=${encodeURIComponent(eventId)}${query}`, body, {
      "access-key": key,
      ...headers,
    });
  }

  /** A producer system with one event, a consumer system, and a client allowed to send the event. */
  async producer(
    name: string,
    secret = "s3cret-" + name,
  ): Promise<{ eventId: string; consumer: string; clientId: string; secret: string }> {
    await this.admin("POST", "/system", { id: name, name });
    await this.admin("POST", "/system", { id: `${name}-consumer`, name: `${name} consumer` });
    const eventId = `${name}-created`;
    await this.admin("POST", "/event", { id: eventId, appId: name, name: "created" });
    const clientId = `${name}-client`;
    await this.admin("POST", "/client", { id: clientId, appId: name, name: "producer", secret });
    return { eventId, consumer: `${name}-consumer`, clientId, secret };
  }

  /** An action on `url` and an active contract linking it to the event. */
  async contract(
    id: string,
    eventId: string,
    consumer: string,
    url: string,
    order = 1,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await this.admin("POST", "/action", { id: `${id}-action`, appId: consumer, name: id, method: "POST", url, ...extra });
    await this.admin("POST", "/contract", { id, eventId, actionId: `${id}-action`, order });
  }

  /** The newest received event of an event id. */
  async latest(eventId: string): Promise<any> {
    const list = await this.admin("GET", `/event/received?event=${encodeURIComponent(eventId)}&limit=1`);
    return list[0];
  }

  /** Polls a received event until its state is final (bounded). */
  async settled(id: string, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.admin("GET", `/event/received/${id}`);
      if (r.state !== "pending") return r;
      if (Date.now() > deadline) assert.fail(`received event ${id} still pending: ${JSON.stringify(r)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Plain grpc-js clients of the eventhos services, from the .proto alone (as grpc-client.ts does for the others). */
export function eventhosGrpc(port: number, key?: string): { clients: RawClient; delivery: RawClient; close(): void } {
  const protoDir = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "proto");
  const definition = protoLoader.loadSync(join(protoDir, "herald/v1/eventhos.proto"), {
    includeDirs: [protoDir],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const v1 = (grpc.loadPackageDefinition(definition) as any).herald.v1;
  const creds = grpc.credentials.createInsecure();
  const options = key === undefined ? undefined : withKey(key);
  const clients = new v1.ClientService(`127.0.0.1:${port}`, creds, options) as RawClient;
  const delivery = new v1.DeliveryService(`127.0.0.1:${port}`, creds, options) as RawClient;
  return {
    clients,
    delivery,
    close() {
      clients.close();
      delivery.close();
    },
  };
}
