import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { HubService, WatchEventsRequestSchema, WatchEventsResponseSchema } from "../../core/gen/herald/v1/hub_pb.js";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";

const KB = 1024;
const MB = 1024 * KB;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * A binary Connect WatchEvents over its own HTTP/1.1 socket, read by hand: data envelopes (flag 0)
 * and the end-stream message (flag 2, JSON). Paused, it reads nothing.
 */
class RawConnectWatch {
  readonly offsets: number[] = [];
  readonly response: Promise<http.IncomingMessage>;
  end: { error?: { code: string; message: string }; metadata?: Record<string, string[]> } | undefined;
  private buffered = Buffer.alloc(0);

  constructor(port: number, request: { appId: string }) {
    const body = toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, request));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/herald.v1.HubService/WatchEvents",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      agent: false,
    });
    req.end(frame);
    this.response = once(req, "response").then(([res]) => {
      const r = res as http.IncomingMessage;
      r.on("data", (chunk: Buffer) => this.take(chunk));
      return r;
    });
  }

  private take(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const flags = this.buffered[0];
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) return;
      const data = this.buffered.subarray(5, 5 + length);
      if (flags === 2) this.end = JSON.parse(data.toString("utf8")) as typeof this.end;
      else this.offsets.push(Number(fromBinary(WatchEventsResponseSchema, data).event?.offset ?? 0n));
      this.buffered = this.buffered.subarray(5 + length);
    }
  }
}

const contiguous = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("Connect and gRPC-Web streams", () => {
  let h: TestHerald;
  const responses: http.IncomingMessage[] = [];

  async function start(queueBytes = 16 * MB): Promise<void> {
    h = await startTestHerald({ watch: { queueBytes }, limits: { maxContentBytes: 4 * MB, maxMessageBytes: 8 * MB } });
    await unary(h.clients.registry, "upsertApp", { app: { id: "big", name: "big", published: true } });
  }

  const push = (data: string) => unary<{ offset: string }>(h.clients.hub, "sendPush", { appId: "big", allActive: true, content: { data } });

  afterEach(async () => {
    for (const r of responses.splice(0)) r.destroy();
    await h?.stop();
  });

  for (const [name, transport] of [
    ["Connect, binary", (port: number) => createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" })],
    [
      "Connect, JSON",
      (port: number) => createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1", useBinaryFormat: false }),
    ],
    ["gRPC-Web", (port: number) => createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" })],
  ] as Array<[string, (port: number) => Transport]>) {
    it(`${name}: carries every event whole and in order`, async () => {
      await start();
      const client = createClient(HubService, transport(h.httpPort));
      const abort = new AbortController();
      const contents = ["small", "y".repeat(600 * KB), "-", "z".repeat(20 * KB)];
      const received: Array<[number, string]> = [];
      const reading = (async () => {
        for await (const r of client.watchEvents({ appId: "big" }, { signal: abort.signal })) {
          received.push([Number(r.event?.offset), r.event?.content?.data ?? ""]);
          if (received.length === contents.length) abort.abort();
        }
      })().catch((err: unknown) => {
        if (!abort.signal.aborted) throw err;
      });
      await watchersLive(h);
      for (const c of contents) await push(c);
      await reading;
      assert.deepEqual(
        received,
        contents.map((c, i) => [i + 1, c]),
      );
    });
  }

  it("share one encoded event among binary Connect streams that stop reading: no copy per stream", async () => {
    await start();
    const n = 60;
    const watches = Array.from({ length: n }, () => new RawConnectWatch(h.httpPort, { appId: "big" }));
    await watchersLive(h, n);
    const started = watches.map(async (w) => {
      const res = await w.response;
      responses.push(res);
      await once(res, "data");
      res.pause();
    });
    gc();
    const before = process.memoryUsage().arrayBuffers;
    await push("x".repeat(1 * MB));
    await Promise.all(started);
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    // connect-es's own encoding would hold two copies a stream (toBinary, then the envelope): 120 MB.
    // Shared, about 15 MB: mostly what this process's clients have read before pausing.
    assert.ok(grown < 48 * MB, `array buffers grew by ${(grown / MB).toFixed(1)} MB for ${n} stalled streams`);
  });

  it("end a binary Connect stream that stops reading past --watch-queue-bytes, with the exact offset to resume from", async () => {
    await start(1 * MB);
    const w = new RawConnectWatch(h.httpPort, { appId: "big" });
    await watchersLive(h);
    let ended = false;
    h.fanOut.once("ended", (_app, kind) => (ended = kind === "slow"));
    let sent = 0;
    const first = w.response.then((res) => {
      responses.push(res);
      res.pause();
    });
    while (!ended && sent < 200) {
      sent++;
      await push(String(sent % 10).repeat(300 * KB));
      if (sent === 1) await first;
    }
    assert.ok(ended, `not ended after ${sent} events`);
    const res = await w.response;
    res.resume();
    await once(res, "end");
    assert.equal(w.end?.error?.code, "resource_exhausted");
    const resumeAfter = Number(w.end?.metadata?.["herald-resume-after"]?.[0]);
    assert.ok(resumeAfter >= 1 && resumeAfter < sent, `resume after ${resumeAfter} of ${sent}`);
    assert.deepEqual(w.offsets, contiguous(1, resumeAfter), "delivered exactly up to the resume offset");
  });
});
