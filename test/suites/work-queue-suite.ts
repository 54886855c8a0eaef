import { strict as assert } from "node:assert";
import type { WorkQueue, WorkQueueOptions } from "../../core/queue/work-queue.js";

/** Two consumers of one queue backend. */
export type MakeQueues = (options: WorkQueueOptions) => Promise<[WorkQueue, WorkQueue]>;

/** The guarantees documented on the WorkQueue interface, checked against one implementation. */
export function workQueueContract(name: string, make: MakeQueues): void {
  describe(`WorkQueue contract: ${name}`, () => {
    let a: WorkQueue;
    let b: WorkQueue;
    afterEach(() => Promise.all([a.close(), b.close()]));

    it("hands each job to one consumer; an acknowledged job never comes back", async () => {
      [a, b] = await make({ claimIdleMs: 60_000, blockMs: 50 });
      await a.add("r1");
      await a.add("r2");
      const first = await a.take(1);
      const second = await b.take(10);
      assert.deepEqual(
        first.map((j) => j.value),
        ["r1"],
      );
      assert.deepEqual(
        second.map((j) => j.value),
        ["r2"],
      );
      assert.deepEqual(await a.take(10), [], "nothing left to hand out");
      await a.ack(first[0]!);
      assert.equal(await a.heartbeat(first[0]!), false, "an acknowledged job is no one's");
      assert.equal(await b.heartbeat(second[0]!), true);
      assert.equal(await a.heartbeat(second[0]!), false, "b owns it, not a");
    });

    it("counts the jobs not yet acknowledged, waiting or running, alike on every consumer, with the oldest's age", async () => {
      [a, b] = await make({ claimIdleMs: 60_000, blockMs: 50 });
      assert.deepEqual(await a.depth(), { jobs: 0, oldestAgeMs: 0 });
      const before = Date.now();
      await a.add("r1");
      await a.add("r2");
      const [taken] = await b.take(1);
      const depth = await a.depth();
      assert.equal(depth.jobs, 2, "a running job still counts");
      assert.ok(depth.oldestAgeMs >= 0 && depth.oldestAgeMs <= Date.now() - before + 1, `oldest ${depth.oldestAgeMs} ms`);
      await b.ack(taken!);
      assert.equal((await a.depth()).jobs, 1);
      const [second] = await a.take(1);
      await a.ack(second!);
      assert.deepEqual(await b.depth(), { jobs: 0, oldestAgeMs: 0 });
    });

    // Blocks far longer than mocha's timeout: a take that waited for it instead of the event fails the test.
    it("wakes a waiting consumer when a job arrives", async () => {
      [a, b] = await make({ claimIdleMs: 60_000, blockMs: 600_000 });
      const waiting = b.take(1);
      await a.add("r3");
      assert.deepEqual(
        (await waiting).map((j) => j.value),
        ["r3"],
      );
    });

    it("gives the job of a silent owner to another consumer after claimIdleMs, and the old owner knows", async () => {
      const claimIdleMs = 100;
      [a, b] = await make({ claimIdleMs, blockMs: 20 });
      await a.add("r4");
      const [job] = await a.take(1);
      assert.ok(job);
      // While a beats, b may take the job only if a's beats were more than claimIdleMs apart (a
      // stalled machine), never sooner; a beats across several claim periods.
      let taken: Awaited<ReturnType<WorkQueue["take"]>> = [];
      const beatingSince = Date.now();
      let beat = 0;
      while (taken.length === 0 && Date.now() - beatingSince < 4 * claimIdleMs) {
        const sent = Date.now();
        if (!(await a.heartbeat(job))) break; // lost after a stall: b claims it below
        beat = sent;
        taken = await b.take(1);
        if (taken.length > 0) assert.ok(Date.now() - beat >= claimIdleMs, "taken from an owner that was beating");
      }
      // a falls silent: each take of b waits for work (blockMs); it claims the job once a has been silent long enough.
      while (taken.length === 0) taken = await b.take(1);
      assert.ok(Date.now() - beat >= claimIdleMs, "claimed only after claimIdleMs of silence");
      assert.deepEqual(
        taken.map((j) => j.value),
        ["r4"],
      );
      assert.equal(await a.heartbeat(job), false, "the old owner lost it");
      assert.equal(await b.heartbeat(taken[0]!), true);
      await b.ack(taken[0]!);
      assert.deepEqual(await a.take(1), []);
    });

    it("returns from take at once when closed", async () => {
      [a, b] = await make({ claimIdleMs: 60_000, blockMs: 600_000 });
      const waiting = a.take(1);
      await new Promise((r) => setImmediate(r));
      await a.close();
      assert.deepEqual(await waiting, []);
    });
  });
}
