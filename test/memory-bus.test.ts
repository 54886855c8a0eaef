import { MemoryBus } from "../core/bus/memory-bus.js";
import { busContract } from "./contract/bus-contract.js";

busContract("MemoryBus", {
  shared: false, // one process, one world
  create: async ({ historySize }) => ({ bus: new MemoryBus({ historySize }) }),
});
