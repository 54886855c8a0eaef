import assert from "node:assert/strict";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { SendEventBatchRequestSchema, SendEventRequestSchema } from "../core/gen/herald/v1/hub_pb.js";
import { decodeSendEventBatchRequest, decodeSendEventRequest } from "../core/hub/send-request-decoder.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { readEvent } from "../core/hub/decode-event.js";
import { appendIds } from "../core/bus/envelope.js";

/** Deterministic pseudo-random numbers (xorshift), so a failure replays the same way. */
let x = 2463534242;
const rnd = (n: number) => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % n;
};
const alphabet = ["a", "Z", "0", " ", "é", "€", "😀", "\u0000", "<", "\n", "_"];
const text = () => {
  const len = [0, 0, 1, 5, 63, 64, 127, 128, 300][rnd(9)]!;
  let s = "";
  while (s.length < len) s += alphabet[rnd(alphabet.length)];
  return s;
};
const cases = ["ksid", "ufid", "deviceId"] as const;
const payloads = [
  undefined,
  () => ({ kind: { case: "numberValue" as const, value: [0, -1.5, 1764770000000.123, Number.MAX_VALUE, Number.NaN][rnd(5)]! } }),
  () => ({ kind: { case: "stringValue" as const, value: text() } }),
  () => ({ kind: { case: "boolValue" as const, value: rnd(2) === 1 } }),
  () => ({ kind: { case: "nullValue" as const, value: 0 as const } }),
  () => ({ kind: { case: undefined } }),
];

function event(): MessageInitShape<typeof SendEventRequestSchema> {
  const payload = payloads[rnd(payloads.length)];
  return {
    appId: rnd(2) ? "" : text(),
    eventId: text(),
    subscribers: Array.from({ length: rnd(4) }, () => ({ ref: { case: cases[rnd(3)]!, value: text() } })),
    namePairs: Array.from({ length: rnd(4) }, () => ({ name: text(), content: text() })),
    ...(rnd(2) ? { content: { mimeType: text(), data: text(), priority: rnd(2) === 1 } } : {}),
    type: text(),
    resourceType: text(),
    resourceId: text(),
    ...(payload ? { payload: payload() } : {}),
    requestId: rnd(3) ? "" : text(),
    idempotencyKey: rnd(3) ? "" : text(),
  };
}

/** What the fast decoder must be: fromBinary's message, or nothing (fromBinary then decides). */
function agrees<D extends DescMessage>(schema: D, decode: (b: Uint8Array) => unknown, bytes: Uint8Array): "fast" | "fallback" {
  const fast = decode(bytes);
  let slow: unknown;
  let threw = false;
  try {
    slow = fromBinary(schema, bytes);
  } catch {
    threw = true;
  }
  if (fast === undefined) return "fallback";
  assert.equal(threw, false, "decoded bytes fromBinary refuses");
  assert.deepEqual(fast, slow);
  return "fast";
}

describe("decodeSendEventRequest", () => {
  it("makes the message fromBinary makes, for generated requests", () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = toBinary(SendEventRequestSchema, create(SendEventRequestSchema, event()));
      assert.equal(agrees(SendEventRequestSchema, decodeSendEventRequest, bytes), "fast");
    }
  });

  it("leaves to fromBinary what it does not read itself", () => {
    const base = { eventId: "1" };
    const fallback = [
      { ...base, pushOptions: { title: "t" } },
      {
        ...base,
        payload: {
          kind: { case: "structValue" as const, value: { fields: { a: { kind: { case: "boolValue" as const, value: true } } } } },
        },
      },
      { ...base, payload: { kind: { case: "listValue" as const, value: { values: [] } } } },
    ];
    for (const m of fallback) {
      const bytes = toBinary(SendEventRequestSchema, create(SendEventRequestSchema, m));
      assert.equal(decodeSendEventRequest(bytes), undefined, JSON.stringify(m));
      assert.ok(fromBinary(SendEventRequestSchema, bytes));
    }
    const ok = toBinary(SendEventRequestSchema, create(SendEventRequestSchema, { eventId: "1", content: { data: "a" } }));
    // An unknown field (99, varint); a content given twice (fromBinary merges them).
    assert.equal(decodeSendEventRequest(Buffer.concat([ok, Buffer.from([0x98, 0x06, 0x01])])), undefined);
    assert.equal(decodeSendEventRequest(Buffer.concat([ok, ok])), undefined);
    // Invalid UTF-8 in event_id: fromBinary refuses it, with its own message.
    const bad = Buffer.from([0x12, 0x02, 0xc3, 0x28]);
    assert.equal(decodeSendEventRequest(bad), undefined);
    assert.throws(() => fromBinary(SendEventRequestSchema, bad));
  });

  it("never decodes differently from fromBinary, on requests truncated or with bytes changed", () => {
    let fast = 0;
    for (let i = 0; i < 80; i++) {
      const bytes = Buffer.from(toBinary(SendEventRequestSchema, create(SendEventRequestSchema, event())));
      for (let cut = 0; cut < bytes.length; cut += 1 + rnd(3)) {
        if (agrees(SendEventRequestSchema, decodeSendEventRequest, bytes.subarray(0, cut)) === "fast") fast++;
      }
      for (let j = 0; j < 20; j++) {
        const changed = Buffer.from(bytes);
        changed[rnd(changed.length)] = rnd(256);
        if (agrees(SendEventRequestSchema, decodeSendEventRequest, changed) === "fast") fast++;
      }
    }
    // Most cuts end between fields, which are valid requests: the fast path took those.
    assert.ok(fast > 250, `only ${fast} took the fast path`);
  });
});

describe("decodeSendEventBatchRequest", () => {
  it("makes the message fromBinary makes, for generated batches", () => {
    for (let i = 0; i < 300; i++) {
      const batch = { appId: text(), events: Array.from({ length: rnd(8) }, event), requestId: text(), idempotencyKey: text() };
      const bytes = toBinary(SendEventBatchRequestSchema, create(SendEventBatchRequestSchema, batch));
      assert.equal(agrees(SendEventBatchRequestSchema, decodeSendEventBatchRequest, bytes), "fast");
    }
  });

  it("leaves the whole batch to fromBinary when one event is, and never differs on changed bytes", () => {
    const events = [{ eventId: "1" }, { eventId: "2", pushOptions: { title: "t" } }];
    const bytes = Buffer.from(toBinary(SendEventBatchRequestSchema, create(SendEventBatchRequestSchema, { appId: "a", events })));
    assert.equal(decodeSendEventBatchRequest(bytes), undefined);
    for (let i = 0; i < 100; i++) {
      const batch = { appId: text(), events: Array.from({ length: 1 + rnd(4) }, event) };
      const valid = Buffer.from(toBinary(SendEventBatchRequestSchema, create(SendEventBatchRequestSchema, batch)));
      for (let j = 0; j < 30; j++) {
        const changed = Buffer.from(valid);
        changed[rnd(changed.length)] = rnd(256);
        agrees(SendEventBatchRequestSchema, decodeSendEventBatchRequest, changed);
        agrees(SendEventBatchRequestSchema, decodeSendEventBatchRequest, valid.subarray(0, rnd(valid.length)));
      }
    }
  });
});

describe("readEvent (decodeEvent's fast path)", () => {
  const event = (): MessageInitShape<typeof EventSchema> => {
    const payload = payloads[rnd(payloads.length)];
    return {
      msgId: rnd(4) ? String(rnd(1e9)) : "",
      offset: [0n, 1n, 127n, 128n, 2n ** 40n, 2n ** 53n - 1n][rnd(6)]!,
      appId: text(),
      eventId: text(),
      kind: rnd(4),
      type: text(),
      resourceType: text(),
      resourceId: text(),
      targets: Array.from({ length: rnd(4) }, text),
      osType: text(),
      namePairs: Array.from({ length: rnd(3) }, () => ({ name: text(), content: text() })),
      ...(rnd(2) ? { content: { mimeType: text(), data: text(), priority: rnd(2) === 1 } } : {}),
      ...(payload ? { payload: payload() } : {}),
      ...(rnd(4) ? { time: { seconds: BigInt(rnd(2 ** 31)) * 2n, nanos: rnd(1e9) } } : {}),
      requestId: text(),
    };
  };

  it("makes the event fromBinary makes, for generated events, and the envelope with its ids appended", () => {
    for (let i = 0; i < 1500; i++) {
      const bytes = toBinary(EventSchema, create(EventSchema, event()));
      assert.equal(agrees(EventSchema, readEvent, bytes), "fast");
      assert.equal(agrees(EventSchema, readEvent, appendIds(bytes, String(rnd(1e9)), BigInt(rnd(1e9)))), "fast");
    }
  });

  it("leaves to fromBinary handler changes, negative times, offsets past 2^53, and never differs on changed bytes", () => {
    const fallback = [
      { handlerChange: { deleted: true } },
      { time: { seconds: -1n } },
      { time: { nanos: -1 } },
      { offset: 2n ** 53n },
      { offset: 2n ** 64n - 1n },
      { kind: -1 },
    ];
    for (const m of fallback) {
      const bytes = toBinary(EventSchema, create(EventSchema, m as MessageInitShape<typeof EventSchema>));
      assert.equal(readEvent(bytes), undefined, String(Object.keys(m)));
      assert.ok(fromBinary(EventSchema, bytes));
    }
    for (let i = 0; i < 60; i++) {
      const valid = Buffer.from(toBinary(EventSchema, create(EventSchema, event())));
      for (let j = 0; j < 30; j++) {
        const changed = Buffer.from(valid);
        changed[rnd(changed.length)] = rnd(256);
        agrees(EventSchema, readEvent, changed);
        agrees(EventSchema, readEvent, valid.subarray(0, rnd(valid.length)));
      }
    }
  });
});
