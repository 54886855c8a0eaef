import { MemoryStore } from "../core/store/memory-store.js";
import { storeContract } from "./contract/store-contract.js";

storeContract("MemoryStore", async () => new MemoryStore());
