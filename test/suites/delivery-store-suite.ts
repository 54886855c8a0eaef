import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  ActionSchema,
  AttemptOutcome,
  AttemptSchema,
  ContractSchema,
  ExecutionSchema,
  ExecutionState,
  ReceivedEventSchema,
  ReceivedState,
} from "../../core/gen/herald/v1/eventhos_pb.js";
import type { DeliveryStore, DeliveryStoreOptions } from "../../core/eventhos/delivery-store.js";

const action = (id: string, appId = "crm") =>
  create(ActionSchema, { id, appId, name: id, method: "POST", url: "http://x/", headers: { a: "b" } });
const contract = (id: string, eventId: string, order = 1) => create(ContractSchema, { id, eventId, actionId: "a1", order, active: true });
const received = (id: string, eventId: string, ms: number, executionIds: string[] = []) =>
  create(ReceivedEventSchema, {
    id,
    eventId,
    appId: "shop",
    clientId: "c",
    time: timestampFromMs(ms),
    headers: { h: "1" },
    query: { q: "2" },
    body: create(ValueSchema, { kind: { case: "stringValue", value: "body" } }),
    state: ReceivedState.PENDING,
    executionIds,
  });
const execution = (id: string, receivedId: string) =>
  create(ExecutionSchema, { id, receivedId, contractId: "c1", actionId: "a1", order: 1, state: ExecutionState.PENDING, runStart: 1 });
const attempt = (number: number, outcome = AttemptOutcome.STARTED) => create(AttemptSchema, { number, outcome });

/** The guarantees documented on the DeliveryStore interface, checked against one implementation. */
export function deliveryStoreContract(name: string, make: (options: DeliveryStoreOptions) => Promise<DeliveryStore>): void {
  describe(`DeliveryStore contract: ${name}`, () => {
    let store: DeliveryStore;
    beforeEach(async () => {
      store = await make({ retentionMs: 60_000 });
    });
    afterEach(() => store.close());

    it("upserts, gets, lists (per app) and deletes actions, handing out copies", async () => {
      await store.upsertAction(action("a2", "erp"));
      await store.upsertAction(action("a1"));
      const got = await store.getAction("a1");
      assert.deepEqual(got, action("a1"));
      got!.headers["a"] = "changed";
      assert.equal((await store.getAction("a1"))?.headers["a"], "b");
      assert.deepEqual(
        (await store.listActions("")).map((a) => a.id),
        ["a1", "a2"],
      );
      assert.deepEqual(
        (await store.listActions("erp")).map((a) => a.id),
        ["a2"],
      );
      assert.equal(await store.deleteAction("a1"), true);
      assert.equal(await store.deleteAction("a1"), false);
      assert.equal(await store.getAction("a1"), undefined);
    });

    it("lists contracts per event, also after one moves to another event", async () => {
      await store.upsertContract(contract("c1", "e1"));
      await store.upsertContract(contract("c2", "e1", 2));
      await store.upsertContract(contract("c3", "e2"));
      assert.deepEqual(
        (await store.listContracts("e1")).map((c) => c.id),
        ["c1", "c2"],
      );
      await store.upsertContract(contract("c2", "e2"));
      assert.deepEqual(
        (await store.listContracts("e1")).map((c) => c.id),
        ["c1"],
      );
      assert.deepEqual(
        (await store.listContracts("e2")).map((c) => c.id),
        ["c2", "c3"],
      );
      assert.deepEqual(
        (await store.listContracts("")).map((c) => c.id),
        ["c1", "c2", "c3"],
      );
      assert.equal(await store.deleteContract("c3"), true);
      assert.equal(await store.deleteContract("c3"), false);
      assert.deepEqual(
        (await store.listContracts("e2")).map((c) => c.id),
        ["c2"],
      );
    });

    it("creates a received event once, with its executions", async () => {
      const now = Date.now();
      assert.equal(await store.createReceived(received("1", "e1", now, ["1-1"]), [execution("1-1", "1")]), true);
      assert.equal(await store.createReceived(received("1", "e2", now, []), []), false, "the second create changes nothing");
      assert.deepEqual(await store.getReceived("1"), received("1", "e1", now, ["1-1"]));
      assert.deepEqual(await store.getExecution("1-1"), execution("1-1", "1"));
      await store.setReceivedState("1", ReceivedState.PROCESSED);
      assert.equal((await store.getReceived("1"))?.state, ReceivedState.PROCESSED);
      await store.updateExecution("1-1", { state: ExecutionState.ERROR, runStart: 3 });
      const e = await store.getExecution("1-1");
      assert.deepEqual([e?.state, e?.runStart], [ExecutionState.ERROR, 3]);
    });

    it("changes states in place: the last change wins, the rest stays, a missing record stays missing", async () => {
      const now = Date.now();
      await store.createReceived(received("5", "e1", now, ["5-1"]), [execution("5-1", "5")]);
      for (const state of [ReceivedState.ERROR, ReceivedState.PENDING, ReceivedState.PROCESSED]) await store.setReceivedState("5", state);
      assert.deepEqual(await store.getReceived("5"), { ...received("5", "e1", now, ["5-1"]), state: ReceivedState.PROCESSED });
      await store.updateExecution("5-1", { state: ExecutionState.ERROR, runStart: 4 });
      await store.updateExecution("5-1", { state: ExecutionState.PENDING });
      assert.deepEqual(await store.getExecution("5-1"), { ...execution("5-1", "5"), state: ExecutionState.PENDING, runStart: 4 });
      await store.setReceivedState("none", ReceivedState.ERROR);
      await store.updateExecution("none-1", { state: ExecutionState.ERROR });
      assert.equal(await store.getReceived("none"), undefined);
      assert.equal(await store.getExecution("none-1"), undefined);
      const states = await store.listReceived({ eventId: "", state: ReceivedState.PROCESSED, limit: 10 });
      assert.deepEqual(
        states.map((r) => r.id),
        ["5"],
      );
    });

    it("lists received events newest first, by event, time range and state", async () => {
      const t = Date.now() - 10_000;
      await store.createReceived(received("1", "e1", t), []);
      await store.createReceived(received("2", "e2", t + 1000), []);
      await store.createReceived(received("3", "e1", t + 2000), []);
      await store.setReceivedState("3", ReceivedState.ERROR);
      const ids = async (f: Partial<Parameters<DeliveryStore["listReceived"]>[0]>) =>
        (await store.listReceived({ eventId: "", state: ReceivedState.UNSPECIFIED, limit: 100, ...f })).map((r) => r.id);
      assert.deepEqual(await ids({}), ["3", "2", "1"]);
      assert.deepEqual(await ids({ limit: 2 }), ["3", "2"]);
      assert.deepEqual(await ids({ eventId: "e1" }), ["3", "1"]);
      assert.deepEqual(await ids({ fromMs: t + 1000, toMs: t + 2000 }), ["3", "2"], "inclusive");
      assert.deepEqual(await ids({ toMs: t + 999 }), ["1"]);
      assert.deepEqual(await ids({ state: ReceivedState.PENDING }), ["2", "1"]);
      assert.deepEqual(await ids({ state: ReceivedState.ERROR, eventId: "e2" }), []);
    });

    it("fences attempts: each number starts once and finishes once", async () => {
      await store.createReceived(received("9", "e1", Date.now(), ["9-1"]), [execution("9-1", "9")]);
      assert.equal(await store.startAttempt("9-1", attempt(2)), true);
      assert.equal(await store.startAttempt("9-1", attempt(1)), true);
      assert.equal(await store.startAttempt("9-1", attempt(1)), false, "attempt 1 is taken");
      assert.equal(await store.finishAttempt("9-1", attempt(3, AttemptOutcome.SUCCESS)), false, "never started");
      assert.equal(await store.finishAttempt("9-1", attempt(1, AttemptOutcome.INTERRUPTED)), true);
      assert.equal(await store.finishAttempt("9-1", attempt(1, AttemptOutcome.SUCCESS)), false, "the first finish wins");
      const e = await store.getExecution("9-1");
      assert.deepEqual(
        e?.attempts.map((a) => [a.number, AttemptOutcome[a.outcome]]),
        [
          [1, "INTERRUPTED"],
          [2, "STARTED"],
        ],
      );
      await store.updateExecution("9-1", { state: ExecutionState.PROCESSED });
      assert.equal((await store.getExecution("9-1"))?.attempts.length, 2, "a state change keeps the attempts");
    });

    it("lists only the received events within the retention", async () => {
      const store2 = await make({ retentionMs: 60_000 });
      try {
        await store2.createReceived(received("old", "e1", Date.now() - 120_000, ["old-1"]), [execution("old-1", "old")]);
        await store2.createReceived(received("new", "e1", Date.now(), []), []);
        const left = await store2.listReceived({ eventId: "", state: ReceivedState.UNSPECIFIED, limit: 10 });
        assert.deepEqual(
          left.map((r) => r.id),
          ["new"],
        );
        const ofEvent = await store2.listReceived({ eventId: "e1", state: ReceivedState.UNSPECIFIED, limit: 10 });
        assert.deepEqual(
          ofEvent.map((r) => r.id),
          ["new"],
        );
      } finally {
        await store2.close();
      }
    });

    it("drops a received event and its executions once the retention has passed", async () => {
      const retentionMs = 50;
      const short = await make({ retentionMs });
      try {
        await short.createReceived(received("gone", "e1", Date.now(), ["gone-1"]), [execution("gone-1", "gone")]);
        // The retention is counted from no later than now: once the clock is past it, all is gone.
        await clockPast(Date.now() + retentionMs);
        assert.equal(await short.getReceived("gone"), undefined);
        assert.equal(await short.getExecution("gone-1"), undefined);
        assert.deepEqual(await short.listReceived({ eventId: "", state: ReceivedState.UNSPECIFIED, limit: 10 }), []);
      } finally {
        await short.close();
      }
    });
  });
}

/** Resolves once the wall clock is past `ms`: what is measured here is the passing of time itself. */
async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((r) => setTimeout(r, ms - Date.now() + 1));
}
