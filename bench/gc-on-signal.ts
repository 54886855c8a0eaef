/**
 * Preloaded into a server process by bench:streams (`node --expose-gc --import <this file> …`): on
 * SIGUSR2 it runs a full garbage collection, so that the heap the process reports next (Herald: its
 * /metrics) is what is live, not what is waiting to be collected. Nothing else of the process changes.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("gc-on-signal needs node --expose-gc");
process.on("SIGUSR2", () => {
  gc();
  gc();
});
