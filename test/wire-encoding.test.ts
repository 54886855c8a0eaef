import { strict as assert } from "node:assert";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { encodeEvent } from "../core/bus/encode-event.js";
import { HandlerChangeSchema } from "../core/gen/herald/v1/handler_pb.js";
import { appendIds, wrapField1 } from "../core/bus/envelope.js";
import { ContentSchema, EventKind, EventSchema, NamePairSchema, SubscriberRefSchema } from "../core/gen/herald/v1/event_pb.js";
import {
  DeliveryState,
  MessageStatusSchema,
  SendEventResponseSchema,
  SendPushResponseSchema,
  WatchEventsResponseSchema,
  SendEventBatchResponseSchema,
  SendPushBatchResponseSchema,
} from "../core/gen/herald/v1/hub_pb.js";
import { encodeStatusRecord } from "../core/store/status-record.js";
import { encodeBatchResponse, encodeSendResponse } from "../core/hub/send-response-encoder.js";
import { getTextEncoding } from "@bufbuild/protobuf/wire";
import { useFastTextEncoding } from "../core/wire/fast-text-encoding.js";
import { encodeValue } from "../core/wire/encode-value.js";
import { encodeRecord } from "../core/eventhos/encode-record.js";
import {
  AttemptOutcome,
  AttemptSchema,
  ExecutionSchema,
  ExecutionState,
  HttpExchangeSchema,
  ReceivedEventSchema,
  ReceivedState,
} from "../core/gen/herald/v1/eventhos_pb.js";

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

  it("appends exactly the bytes toBinary writes for msg_id and offset: digit ids byte by byte, any other id encoded", () => {
    const event = create(EventSchema, { appId: "a", eventId: "e", targets: ["k"] });
    const env = toBinary(EventSchema, event);
    const ids = ["1", "9876543210", "9".repeat(127), "9".repeat(128), "id-é", ""];
    for (const msgId of ids) {
      for (const offset of [0n, 1n, 127n, 128n, 2n ** 53n - 1n]) {
        const expected = toBinary(EventSchema, { ...event, msgId: "", offset: 0n });
        const ids = toBinary(EventSchema, create(EventSchema, { msgId, offset: offset === 0n ? 1n : offset }));
        // toBinary leaves a zero offset out; appendIds always writes it (0x10 0x00), as the Lua does.
        const tail = offset === 0n ? Buffer.concat([ids.subarray(0, ids.length - 2), Buffer.from([0x10, 0x00])]) : ids;
        assert.equal(
          Buffer.from(appendIds(env, msgId, offset)).toString("hex"),
          Buffer.concat([expected, msgId === "" ? Buffer.from([0x0a, 0x00]) : Buffer.alloc(0), tail]).toString("hex"),
          `${msgId.slice(0, 12)}… at ${offset}`,
        );
      }
    }
    assert.throws(() => appendIds(env, "1", -1n), RangeError);
    assert.throws(() => appendIds(env, "1", 2n ** 53n), RangeError);
  });
});

describe("encodeEvent", () => {
  /** Deterministic pseudo-random numbers (xorshift), so a failure replays the same way. */
  let x = 12345;
  const rnd = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return Math.abs(x) % n;
  };
  const alphabet = ["a", "Z", "0", " ", "é", "€", "😀", "\u0000", "<", "\n", "\uD800"]; // a lone surrogate too
  const text = () => {
    const len = [0, 1, 5, 127, 128, 200, 17_000][rnd(7)]!;
    let s = "";
    while (s.length < len) s += alphabet[rnd(alphabet.length)];
    return s;
  };
  const some = <T>(make: () => T) => Array.from({ length: rnd(4) }, make);

  it("writes exactly the bytes toBinary writes, for generated events of every shape", () => {
    for (let i = 0; i < 400; i++) {
      const fields = {
        appId: text(),
        eventId: text(),
        kind: rnd(4) as EventKind,
        type: text(),
        resourceType: text(),
        resourceId: text(),
        targets: some(text),
        osType: text(),
        namePairs: some(() => create(NamePairSchema, { name: text(), content: text() })),
        ...(rnd(3) > 0 ? { content: create(ContentSchema, { mimeType: text(), data: text(), priority: rnd(2) === 1 }) } : {}),
        ...(rnd(3) === 0 ? { payload: fromJson(ValueSchema, { a: [1, "b", null, { c: true }], d: text() }) } : {}),
        time: timestampFromMs([0, 1, 1_700_000_000_123, 2 ** 45][rnd(4)]!),
        requestId: text(),
        ...(rnd(5) === 0
          ? {
              handlerChange: create(HandlerChangeSchema, {
                deleted: true,
                handler: { id: text(), revision: 2n ** 40n, subscriptions: [{ type: "any" }] },
              }),
            }
          : {}),
      };
      const expected = toBinary(EventSchema, create(EventSchema, fields));
      assert.deepEqual(Buffer.from(encodeEvent(fields)), Buffer.from(expected), `event ${i}`);
    }
  });

  it("falls back to toBinary for negative numbers, which its varints cannot hold: nanos, an unknown kind", () => {
    const base = {
      appId: "a",
      eventId: "e",
      kind: EventKind.PUSH,
      type: "",
      resourceType: "",
      resourceId: "",
      targets: [],
      osType: "",
      namePairs: [],
      time: timestampFromMs(1_700_000_000_000),
      requestId: "",
    };
    for (const fields of [
      { ...base, time: { ...base.time, nanos: -1 } },
      { ...base, kind: -1 as EventKind },
    ]) {
      assert.deepEqual(Buffer.from(encodeEvent(fields)), Buffer.from(toBinary(EventSchema, create(EventSchema, fields))));
    }
  });

  it("falls back to toBinary for what varints from numbers cannot hold (a time before 1970)", () => {
    const fields = {
      appId: "a",
      eventId: "",
      kind: EventKind.PUSH,
      type: "",
      resourceType: "",
      resourceId: "",
      targets: [],
      osType: "",
      namePairs: [],
      time: timestampFromMs(-5_000),
      requestId: "",
    };
    assert.deepEqual(Buffer.from(encodeEvent(fields)), Buffer.from(toBinary(EventSchema, create(EventSchema, fields))));
  });
});

describe("encodeStatusRecord", () => {
  it("writes exactly the bytes toBinary writes, for records of every shape, a time before 1970 included", () => {
    const texts = ["", "1", "app-é€😀", "k".repeat(200)];
    const times = [0, 1, 999, 1_700_000_000_123, 2 ** 45, -1_000, -1];
    let n = 0;
    for (const msgId of texts) {
      for (const appId of texts) {
        for (const ms of times) {
          for (const ksids of [[], ["k1"], texts, Array.from({ length: 20 }, (_, i) => `ksid-${i}`)]) {
            const broadcast = n++ % 2 === 0;
            const record = { msgId, appId, ksids, broadcast, time: timestampFromMs(ms) };
            const expected = toBinary(
              MessageStatusSchema,
              create(MessageStatusSchema, {
                msgId,
                appId,
                time: record.time,
                broadcast,
                subscribers: ksids.map((ksid) => ({ ksid, state: DeliveryState.QUEUED })),
              }),
            );
            assert.deepEqual(Buffer.from(encodeStatusRecord(record)), Buffer.from(expected), `${msgId}/${appId}/${ms}/${ksids.length}`);
          }
        }
      }
    }
  });
});

describe("encodeSendResponse", () => {
  it("writes exactly the bytes toBinary writes, for replies of every size", () => {
    const ids = ["", "1", "12345678901234567890", "é€😀", "x".repeat(127), "x".repeat(300)];
    const offsets = [0n, 1n, 127n, 128n, 2n ** 32n, BigInt(Number.MAX_SAFE_INTEGER)];
    for (const schema of [SendEventResponseSchema, SendPushResponseSchema]) {
      for (const msgId of ids) {
        for (const offset of offsets) {
          const reply = { msgId, offset, invalidSubscribers: [] };
          const expected = toBinary(schema, create(schema, reply));
          assert.deepEqual(Buffer.from(encodeSendResponse(reply)!), Buffer.from(expected), `${schema.typeName} ${msgId} ${offset}`);
        }
      }
    }
  });

  it("leaves to toBinary what it does not write itself", () => {
    const invalid = [create(SubscriberRefSchema, { ref: { case: "ksid", value: "k" } })];
    assert.equal(encodeSendResponse({ msgId: "", offset: 0n, invalidSubscribers: invalid }), undefined);
    assert.equal(encodeSendResponse({ msgId: "1", offset: 2n ** 60n, invalidSubscribers: [] }), undefined);
    assert.equal(encodeSendResponse({ msgId: "1" }), undefined);
  });
});

describe("encodeBatchResponse", () => {
  it("writes exactly the bytes toBinary writes, for batches of every size and unpublished members", () => {
    for (const schema of [SendEventBatchResponseSchema, SendPushBatchResponseSchema]) {
      for (const count of [0, 1, 2, 64, 300]) {
        for (const requestId of ["", "r-1", "x".repeat(200)]) {
          // Every third member not published (empty msg id, offset 0): an empty message in the list.
          const responses = Array.from({ length: count }, (_, i) =>
            i % 3 === 2
              ? { msgId: "", offset: 0n, invalidSubscribers: [] }
              : { msgId: String(1000 + i), offset: BigInt(2 ** 20 + i), invalidSubscribers: [] },
          );
          const reply = { responses, requestId };
          const expected = toBinary(schema, create(schema, reply));
          assert.deepEqual(Buffer.from(encodeBatchResponse(reply)!), Buffer.from(expected), `${schema.typeName} ${count} ${requestId}`);
        }
      }
    }
  });

  it("leaves the whole reply to toBinary when one member is", () => {
    const invalid = [create(SubscriberRefSchema, { ref: { case: "ksid", value: "k" } })];
    const ok = { msgId: "1", offset: 1n, invalidSubscribers: [] };
    assert.equal(
      encodeBatchResponse({ responses: [ok, { msgId: "", offset: 0n, invalidSubscribers: invalid }], requestId: "" }),
      undefined,
    );
    assert.equal(encodeBatchResponse({ responses: [ok] }), undefined);
    assert.notEqual(encodeBatchResponse({ responses: [ok], requestId: "" }), undefined);
  });
});

describe("useFastTextEncoding", () => {
  it("makes protobuf-es write every string as TextEncoder does: lone surrogates, astral, BOM, NUL, long", () => {
    const strings = [
      "",
      "a",
      "héllo",
      "日本語",
      "\u{1F600}",
      "\ud800",
      "x\udc00y",
      "end\ud83d",
      "\udc00\ud800",
      "\ufeffbom",
      "\u0000",
      `${"a".repeat(9000)}\ud800`,
    ];
    // Random UTF-16 units, a third of them surrogates (paired or not by chance).
    for (let i = 0; i < 2000; i++) {
      strings.push(
        Array.from({ length: i % 9 }, (_, j) =>
          String.fromCharCode((i * 7919 + j * 104729) % 3 === 0 ? 0xd800 + ((i * 31 + j) % 0x800) : (i * 2654435761 + j * 40503) % 0x10000),
        ).join(""),
      );
    }
    const messages = strings.map((s) => create(EventSchema, { appId: s, targets: [s, "k"], payload: fromJson(ValueSchema, { [s]: s }) }));
    const before = messages.map((m) => toBinary(EventSchema, m));
    useFastTextEncoding();
    useFastTextEncoding(); // idempotent
    const encoder = new TextEncoder();
    for (const s of strings)
      assert.deepEqual(Buffer.from(getTextEncoding().encodeUtf8(s)), Buffer.from(encoder.encode(s)), JSON.stringify(s));
    messages.forEach((m, i) =>
      assert.deepEqual(Buffer.from(toBinary(EventSchema, m)), Buffer.from(before[i]!), JSON.stringify(strings[i])),
    );
  });
});

describe("encodeValue", () => {
  /** JSON values of every kind, nested, from a seeded generator (the same each run). */
  function jsonValues(): unknown[] {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const strings = ["", "a", "héllo", "日本語", "\u{1F600}", "\ud800", "x".repeat(200), "__proto__", "1", "0"];
    const numbers = [0, -0, 1, -1, 0.5, 1e300, -1e-300, 2 ** 53, 123456789.125];
    const gen = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.35) {
        const pick = rand();
        if (pick < 0.2) return null;
        if (pick < 0.4) return rand() < 0.5;
        if (pick < 0.7) return numbers[Math.floor(rand() * numbers.length)];
        return strings[Math.floor(rand() * strings.length)];
      }
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 5) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 5); i > 0; i--)
        o[strings[Math.floor(rand() * strings.length)]! + (rand() < 0.5 ? "" : String(i))] = gen(depth + 1);
      return o;
    };
    return [
      null,
      true,
      false,
      0,
      "",
      [],
      {},
      { "": "" },
      [[[]]],
      { a: { b: { c: [1, "2", null, false] } } },
      ...Array.from({ length: 3000 }, () => gen(0)),
    ];
  }

  it("writes exactly the bytes toBinary writes, for JSON values of every kind and nesting", () => {
    for (const json of jsonValues()) {
      const value = fromJson(ValueSchema, json as never);
      assert.deepEqual(Buffer.from(encodeValue(value)!), Buffer.from(toBinary(ValueSchema, value)), JSON.stringify(json));
    }
    // Map keys that look like integers come first in the object's own order, as toBinary reads them.
    const ordered = fromJson(ValueSchema, { b: 1, 2: 2, a: 3, 1: 4 });
    assert.deepEqual(Buffer.from(encodeValue(ordered)!), Buffer.from(toBinary(ValueSchema, ordered)));
  });

  it("leaves to toBinary what it does not write: unknown fields, a null_value other than 0, an empty Value", () => {
    const unknown = fromBinary(ValueSchema, Buffer.from([0x1a, 0x01, 0x78, 0xf8, 0x06, 0x01]));
    assert.equal(unknown.$unknown?.length, 1);
    assert.equal(encodeValue(unknown), undefined);
    const nested = fromJson(ValueSchema, { a: [1, { b: 2 }] });
    const inner = (nested.kind.value as any).fields.a.kind.value.values[1];
    inner.$unknown = unknown.$unknown;
    assert.equal(encodeValue(nested), undefined);
    assert.equal(encodeValue(create(ValueSchema, { kind: { case: "nullValue", value: 3 as never } })), undefined);
    const empty = create(ValueSchema, {});
    assert.deepEqual(Buffer.from(encodeValue(empty)!), Buffer.from(toBinary(ValueSchema, empty)));
  });
});

describe("encodeRecord (eventhos records)", () => {
  const same = <D extends Parameters<typeof encodeRecord>[0]>(schema: D, m: Parameters<typeof encodeRecord<D>>[1], what: string) =>
    assert.deepEqual(Buffer.from(encodeRecord(schema, m)), Buffer.from(toBinary(schema, m)), what);
  const maps = [
    {},
    { a: "" },
    { "": "x" },
    { host: "127.0.0.1:8080", "user-agent": "h2load", "content-type": "application/json", "2": "é", "1": "\ud800" },
  ];
  const times = [undefined, timestampFromMs(0), timestampFromMs(1_700_000_000_123), timestampFromMs(1)];
  const bodies = [
    undefined,
    fromJson(ValueSchema, {}),
    fromJson(ValueSchema, { name: "Morpheush", id: "199", n: [1, null, true] }),
    fromJson(ValueSchema, "x"),
  ];

  it("writes received events exactly as toBinary", () => {
    let i = 0;
    for (const headers of maps)
      for (const time of times)
        for (const body of bodies)
          for (const state of [ReceivedState.UNSPECIFIED, ReceivedState.PENDING, ReceivedState.NO_CONTRACTS]) {
            const ids = [[], [""], ["1-1", "1-2"]][i++ % 3]!;
            const r = create(ReceivedEventSchema, {
              id: i % 2 ? "123" : "",
              eventId: "bench-event",
              appId: "app",
              clientId: i % 5 ? "c" : "",
              headers,
              query: maps[i % maps.length]!,
              state,
              executionIds: ids,
              ...(time ? { time } : {}),
              ...(body ? { body } : {}),
            });
            same(ReceivedEventSchema, r, `received ${i}`);
          }
  });

  it("writes executions and attempts exactly as toBinary", () => {
    for (const [i, state] of [ExecutionState.UNSPECIFIED, ExecutionState.PENDING, ExecutionState.ERROR].entries()) {
      const e = { id: i ? "9-1" : "", receivedId: "9", contractId: "c", actionId: i === 2 ? "" : "a", order: i * 200, state, runStart: i };
      same(ExecutionSchema, create(ExecutionSchema, e), `execution ${i}`);
    }
    // With attempts inside, toBinary writes it.
    same(
      ExecutionSchema,
      create(ExecutionSchema, { id: "x", attempts: [create(AttemptSchema, { number: 1 })] }),
      "execution with attempts",
    );
    let i = 0;
    for (const headers of maps)
      for (const started of times)
        for (const outcome of [AttemptOutcome.UNSPECIFIED, AttemptOutcome.STARTED, AttemptOutcome.SUCCESS]) {
          const request =
            i % 3 === 0
              ? undefined
              : create(HttpExchangeSchema, { method: "POST", url: "http://x/é", headers, body: i % 2 ? '{"a":1}' : "" });
          const response =
            i % 4 === 0 ? undefined : create(HttpExchangeSchema, { status: i * 100, headers: maps[i % maps.length]!, body: "ok" });
          const a = create(AttemptSchema, {
            number: i,
            durationMs: i * 1000,
            outcome,
            error: i % 2 ? "timed out after 300 ms" : "",
            ...(started ? { started } : {}),
            ...(request ? { request } : {}),
            ...(response ? { response } : {}),
          });
          same(AttemptSchema, a, `attempt ${i++}`);
        }
  });
});
