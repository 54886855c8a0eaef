import { join } from "node:path";
import { HubService } from "../core/gen/herald/v1/hub_pb.js";
import { silentLogger } from "../core/logger.js";
import { startHerald } from "../server/start-herald.js";
import { median, root } from "./support.js";

/**
 * What Herald's core costs per SendEvent with no transport in front: an embedded Herald in this
 * process (the seed loaded, metrics on as it runs), called through its in-process client as the facade calls it, `inFlight`
 * calls at a time. CPU µs (user + system) per call, median of `rounds` rounds. The facade cannot
 * cost less than the stack's floor plus this.
 */
export async function coreCost(rounds: number, calls = 40_000, inFlight = 32): Promise<number> {
  const herald = await startHerald(
    { server: { host: "127.0.0.1", grpcPort: 0, httpPort: 0, seedFile: join(root, "examples", "seed.yaml") } },
    silentLogger,
  );
  try {
    const hub = herald.inProcess(HubService);
    const request = {
      eventId: "1",
      subscribers: [{ ref: { case: "ksid" as const, value: "xxxx" } }],
      namePairs: [{ name: "lastname", content: "Smith" }],
    };
    const run = async () => {
      const start = process.cpuUsage();
      let next = 0;
      const worker = async () => {
        while (next++ < calls) await hub.sendEvent(request);
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      const used = process.cpuUsage(start);
      return (used.user + used.system) / calls;
    };
    await run(); // warm up
    const results: number[] = [];
    for (let r = 0; r < rounds; r++) results.push(await run());
    return median(results);
  } finally {
    await herald.close();
  }
}
