import { create } from "@bufbuild/protobuf";
import { newApiKey } from "../core/auth/api-key-format.js";
import { Authenticator } from "../core/auth/authenticator.js";
import { hubRules } from "../core/auth/policy.js";
import { withAuthorization } from "../core/auth/with-authorization.js";
import { HubService, SendEventRequestSchema } from "../core/gen/herald/v1/hub_pb.js";
import { Role } from "../core/gen/herald/v1/registry_pb.js";
import { MemoryApiKeyStore } from "../core/store/memory-api-key-store.js";
import { LazyHandlerContext } from "../core/transport/handler-context.js";
import { median } from "./support.js";

/**
 * What the authorization layer itself costs per SendEvent, in process, without the transport: the
 * same wrapped no-op handler called with access control off and on (a cached publish key), each
 * call with a fresh context and a fresh `authorization` string, as a transport hands them over.
 * Nanoseconds per call, median of `rounds` rounds of `calls`. The difference is the check: the
 * h2load rows cannot show a cost this small through the machine's noise.
 */
export async function authorizationCost(rounds: number, calls = 200_000): Promise<{ off: number; on: number }> {
  const keys = new MemoryApiKeyStore();
  const key = newApiKey();
  await keys.create({ id: key.id, name: "bench", roles: [Role.PUBLISH], appIds: ["demo"], hash: key.hash, createdMs: 0, expiresMs: 0 });
  const handler = { sendEvent: (_req: unknown, _ctx: unknown) => ({}) };
  const wrap = (adminKey: string | undefined) =>
    withAuthorization(HubService, handler, hubRules, new Authenticator({ adminKey, apiKeys: keys }));
  const off = wrap(undefined);
  const on = wrap("bench-admin-key");
  const request = create(SendEventRequestSchema, { appId: "demo", eventId: "1" });
  const header = `Bearer ${key.key}`;
  const run = (service: typeof off) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      // A new string each call (a transport decodes the header afresh): no identity shortcut.
      const authorization = header.concat("");
      const ctx = new LazyHandlerContext({
        service: HubService,
        method: HubService.method.sendEvent,
        protocolName: "grpc",
        signals: [],
        requestHeader: () => [["authorization", authorization]],
      });
      service.sendEvent(request, ctx);
    }
    return Number(process.hrtime.bigint() - start) / calls;
  };
  const offs: number[] = [];
  const ons: number[] = [];
  run(off); // warm up
  run(on);
  for (let r = 0; r < rounds; r++) {
    offs.push(run(off));
    ons.push(run(on));
  }
  return { off: median(offs), on: median(ons) };
}
