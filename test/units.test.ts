import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { renderTemplate } from "../core/rpc/template.js";
import { parseOptions, UsageError } from "../core/cli-options.js";
import { defaultOptions } from "../core/config.js";
import { appendIds, wrapField1 } from "../core/bus/envelope.js";
import { EventSchema, NamePairSchema } from "../core/gen/herald/v1/event_pb.js";
import { WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";

describe("renderTemplate", () => {
  const pairs = [create(NamePairSchema, { name: "lastname", content: "Smith" }), create(NamePairSchema, { name: "n", content: "$&" })];
  it("fills placeholders, keeps unknown ones, takes replacement text literally", () => {
    assert.equal(renderTemplate("Hi {{lastname}} {{ n }} {{other}}", pairs), "Hi Smith $& {{other}}");
    assert.equal(renderTemplate("no placeholders", pairs), "no placeholders");
  });
});

describe("parseOptions", () => {
  it("takes defaults, then environment, then flags", () => {
    const p = parseOptions(["--grpc-port", "7000", "--max-subscribers", "3"], { HERALD_GRPC_PORT: "6000", HERALD_HTTP_PORT: "6001", REDIS_URL: "redis://r" });
    assert.ok(!p.help);
    assert.equal(p.options.grpcPort, 7000);
    assert.equal(p.options.httpPort, 6001);
    assert.equal(p.options.redisUrl, "redis://r");
    assert.equal(p.options.limits.maxSubscribers, 3);
    assert.equal(p.options.limits.maxNamePairs, defaultOptions.limits.maxNamePairs);
    assert.equal(defaultOptions.limits.maxSubscribers, 10_000, "defaults are not mutated");
  });
  it("refuses unknown flags and bad numbers", () => {
    assert.throws(() => parseOptions(["--nope"], {}), UsageError);
    assert.throws(() => parseOptions(["--history-size", "-1"], {}), UsageError);
    assert.throws(() => parseOptions([], { HERALD_GRPC_PORT: "x" }), /HERALD_GRPC_PORT/);
  });
});

describe("envelope encoding", () => {
  it("appends msg_id and offset so the bytes decode as an Event carrying both", () => {
    const env = toBinary(EventSchema, create(EventSchema, { appId: "a", eventId: "e", targets: ["k"] }));
    for (const offset of [1n, 127n, 128n, 300n, 2n ** 40n]) {
      const ev = fromBinary(EventSchema, appendIds(env, "123456", offset));
      assert.equal(ev.msgId, "123456");
      assert.equal(ev.offset, offset);
      assert.equal(ev.appId, "a");
      const wrapped = fromBinary(WatchEventsResponseSchema, wrapField1(appendIds(env, "9", offset)));
      assert.equal(wrapped.event?.offset, offset);
    }
  });
});
