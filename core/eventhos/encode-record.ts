import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AttemptSchema,
  ExecutionSchema,
  ReceivedEventSchema,
  type Attempt,
  type Execution,
  type HttpExchange,
  type ReceivedEvent,
} from "../gen/herald/v1/eventhos_pb.js";
import { payloadBytes } from "../bus/payload-bytes.js";
import { lenSize, ProtoWriter, strSize, varintFieldSize } from "../wire/proto-writer.js";

/**
 * The records RedisDeliveryStore writes for every event (a received event, its executions, two
 * attempts per call) in exactly the bytes toBinary writes, by hand: toBinary walks them by
 * reflection, forking a writer per map entry and nested message (headers, query, the body), which
 * was the largest part of encoding on an eventhos instance on Redis. The body is the payload's
 * encoding the send already made (payloadBytes). Anything these do not write (unknown fields,
 * negative numbers, attempts inside an execution) goes to toBinary; test/wire-encoding compares.
 */
export function encodeRecord<D extends DescMessage>(schema: D, message: MessageShape<D>): Uint8Array {
  let bytes: Uint8Array | undefined;
  const desc: DescMessage = schema;
  if (desc === ReceivedEventSchema) bytes = encodeReceived(message as ReceivedEvent);
  else if (desc === ExecutionSchema) bytes = encodeExecution(message as Execution);
  else if (desc === AttemptSchema) bytes = encodeAttempt(message as Attempt);
  return bytes ?? toBinary(schema, message);
}

const plain = (m: { $unknown?: unknown[] | undefined }) => m.$unknown === undefined || m.$unknown.length === 0;
/** Varints are written here from non-negative numbers only (and these fields are 32-bit). */
const natural = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0x7fffffff;

/** A map<string, string>'s entries: each key and value always written. */
function mapSizes(map: Record<string, string>, sizes: number[]): number {
  let n = 0;
  for (const key of Object.keys(map)) {
    const entry = 1 + lenSize(Buffer.byteLength(key)) + 1 + lenSize(Buffer.byteLength(map[key]!));
    sizes.push(entry);
    n += 1 + lenSize(entry);
  }
  return n;
}

function writeMap(w: ProtoWriter, field: number, map: Record<string, string>, sizes: number[], at: number): number {
  for (const key of Object.keys(map)) {
    w.nested(field, sizes[at++]!);
    w.str(1, key, true);
    w.str(2, map[key]!, true);
  }
  return at;
}

/** A Timestamp's fields; undefined when negative. */
function timestampSize(t: Timestamp): number | undefined {
  if (t.seconds < 0n || t.seconds > 2n ** 53n || !natural(t.nanos) || !plain(t)) return undefined;
  return varintFieldSize(Number(t.seconds)) + varintFieldSize(t.nanos);
}

function writeTimestamp(w: ProtoWriter, field: number, t: Timestamp, size: number): void {
  w.nested(field, size);
  w.varintField(1, Number(t.seconds));
  w.varintField(2, t.nanos);
}

function encodeReceived(r: ReceivedEvent): Uint8Array | undefined {
  if (!plain(r) || !natural(r.state)) return undefined;
  const time = r.time && timestampSize(r.time);
  if (r.time && time === undefined) return undefined;
  const body = r.body && payloadBytes(r.body);
  const sizes: number[] = [];
  const headers = mapSizes(r.headers, sizes);
  const query = mapSizes(r.query, sizes);
  let size = strSize(r.id) + strSize(r.eventId) + strSize(r.appId) + strSize(r.clientId) + headers + query;
  if (time !== undefined) size += 1 + lenSize(time);
  if (body) size += 1 + lenSize(body.length);
  size += varintFieldSize(r.state);
  for (const id of r.executionIds) size += 1 + lenSize(Buffer.byteLength(id));

  const w = new ProtoWriter(size);
  w.str(1, r.id);
  w.str(2, r.eventId);
  w.str(3, r.appId);
  w.str(4, r.clientId);
  if (r.time && time !== undefined) writeTimestamp(w, 5, r.time, time);
  const at = writeMap(w, 6, r.headers, sizes, 0);
  writeMap(w, 7, r.query, sizes, at);
  if (body) w.bytes(8, body);
  w.varintField(9, r.state);
  for (const id of r.executionIds) w.str(10, id, true);
  return w.finish();
}

function encodeExecution(e: Execution): Uint8Array | undefined {
  if (!plain(e) || e.attempts.length > 0 || !natural(e.order) || !natural(e.state) || !natural(e.runStart)) return undefined;
  const size =
    strSize(e.id) +
    strSize(e.receivedId) +
    strSize(e.contractId) +
    strSize(e.actionId) +
    varintFieldSize(e.order) +
    varintFieldSize(e.state) +
    varintFieldSize(e.runStart);
  const w = new ProtoWriter(size);
  w.str(1, e.id);
  w.str(2, e.receivedId);
  w.str(3, e.contractId);
  w.str(4, e.actionId);
  w.varintField(5, e.order);
  w.varintField(6, e.state);
  w.varintField(8, e.runStart);
  return w.finish();
}

/** An HttpExchange's fields and its map entries' sizes (into `sizes`); undefined when not ours to write. */
function exchangeSize(x: HttpExchange, sizes: number[]): number | undefined {
  if (!plain(x) || !natural(x.status)) return undefined;
  return strSize(x.method) + strSize(x.url) + mapSizes(x.headers, sizes) + strSize(x.body) + varintFieldSize(x.status);
}

function writeExchange(w: ProtoWriter, field: number, x: HttpExchange, size: number, sizes: number[]): void {
  w.nested(field, size);
  w.str(1, x.method);
  w.str(2, x.url);
  writeMap(w, 3, x.headers, sizes, 0);
  w.str(4, x.body);
  w.varintField(5, x.status);
}

function encodeAttempt(a: Attempt): Uint8Array | undefined {
  if (!plain(a) || !natural(a.number) || !natural(a.durationMs) || !natural(a.outcome)) return undefined;
  const started = a.started && timestampSize(a.started);
  if (a.started && started === undefined) return undefined;
  const requestSizes: number[] = [];
  const responseSizes: number[] = [];
  const request = a.request && exchangeSize(a.request, requestSizes);
  const response = a.response && exchangeSize(a.response, responseSizes);
  if ((a.request && request === undefined) || (a.response && response === undefined)) return undefined;
  let size = varintFieldSize(a.number) + varintFieldSize(a.durationMs) + varintFieldSize(a.outcome) + strSize(a.error);
  if (started !== undefined) size += 1 + lenSize(started);
  if (request !== undefined) size += 1 + lenSize(request);
  if (response !== undefined) size += 1 + lenSize(response);

  const w = new ProtoWriter(size);
  w.varintField(1, a.number);
  if (a.started && started !== undefined) writeTimestamp(w, 2, a.started, started);
  w.varintField(3, a.durationMs);
  w.varintField(4, a.outcome);
  if (a.request && request !== undefined) writeExchange(w, 5, a.request, request, requestSizes);
  if (a.response && response !== undefined) writeExchange(w, 6, a.response, response, responseSizes);
  w.str(7, a.error);
  return w.finish();
}
