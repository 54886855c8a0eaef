import { strict as assert } from "node:assert";
import { ForwardCredential } from "../../facade/eventhos/forward-credential.js";

/** A promise and the function that settles it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("ForwardCredential (pure)", () => {
  /** A client whose one method answers the authorization header its call carried. */
  const client = {
    async whoAmI(_req: unknown, options?: { headers?: ConstructorParameters<typeof Headers>[0] }) {
      return new Headers(options?.headers).get("authorization");
    },
  };

  it("each admin request's calls carry its own credential, also after an overlapping one has ended", async () => {
    const credential = new ForwardCredential();
    const forwarded = credential.forward(client);
    const firstMayEnd = deferred();
    const secondMayCall = deferred();
    const first = credential.run("Bearer first", async () => {
      const before = await forwarded.whoAmI({});
      await firstMayEnd.promise;
      return before;
    });
    const second = credential.run("Bearer second", async () => {
      const before = await forwarded.whoAmI({});
      await secondMayCall.promise;
      return [before, await forwarded.whoAmI({})];
    });
    firstMayEnd.resolve();
    assert.equal(await first, "Bearer first");
    // The first request is over (the storage would be switched off were it the only one).
    secondMayCall.resolve();
    assert.deepEqual(await second, ["Bearer second", "Bearer second"]);
  });

  it("a call outside any admin request fails, before and after one ran; a later request carries its credential again", async () => {
    const credential = new ForwardCredential();
    const forwarded = credential.forward(client);
    assert.throws(() => forwarded.whoAmI({}), /outside its request/);
    assert.equal(await credential.run("Bearer a", () => forwarded.whoAmI({})), "Bearer a");
    assert.throws(() => forwarded.whoAmI({}), /outside its request/);
    await assert.rejects(
      credential.run("Bearer b", async () => {
        throw new Error("handler failed");
      }),
      /handler failed/,
    );
    assert.equal(await credential.run("Bearer c", () => forwarded.whoAmI({})), "Bearer c");
  });
});
