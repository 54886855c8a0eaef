import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WatchEventsRequestSchema, WatchEventsResponseSchema } from "../../core/gen/herald/v1/hub_pb.js";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";

const KB = 1024;
const MB = 1024 * KB;

/** A full garbage collection, so that a memory figure counts only what is still referenced. */
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * A WatchEvents stream over a raw HTTP/2 socket, with a 16 KB stream window. Paused, it reads
 * nothing: Node stops consuming, so no window update reaches the server, which must hold the rest.
 */
class RawWatch {
  readonly offsets: number[] = [];
  readonly trailers: Promise<http2.IncomingHttpHeaders>;
  readonly stream: http2.ClientHttp2Stream;
  private buffered = Buffer.alloc(0);

  constructor(
    readonly session: http2.ClientHttp2Session,
    request: { appId: string; resumeAfter?: bigint },
  ) {
    const body = toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, request));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    this.stream = session.request({
      ":method": "POST",
      ":path": "/herald.v1.HubService/WatchEvents",
      "content-type": "application/grpc",
      te: "trailers",
    });
    this.stream.end(frame);
    this.stream.on("data", (chunk: Buffer) => this.take(chunk));
    this.trailers = new Promise((resolve, reject) => {
      this.stream.once("trailers", resolve);
      this.stream.once("error", reject);
    });
  }

  static connect(port: number): http2.ClientHttp2Session {
    return http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * KB } });
  }

  /** Reads (resumed) until `n` events have arrived; fails if the stream ends first. */
  async received(n: number): Promise<void> {
    this.stream.resume();
    const ended = this.trailers.then((t) => {
      throw new Error(`stream ended (${t["grpc-status"]} ${t["grpc-message"]}) after ${this.offsets.length} of ${n} events`);
    });
    while (this.offsets.length < n) await Promise.race([once(this.stream, "data"), ended]);
  }

  private take(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) return;
      const message = fromBinary(WatchEventsResponseSchema, this.buffered.subarray(5, 5 + length));
      this.offsets.push(Number(message.event?.offset ?? 0n));
      this.buffered = this.buffered.subarray(5 + length);
    }
  }
}

const contiguous = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("stalled streams", () => {
  let h: TestHerald;
  const sessions: http2.ClientHttp2Session[] = [];

  async function start(queueBytes: number): Promise<void> {
    h = await startTestHerald({ watch: { queueBytes }, limits: { maxContentBytes: 4 * MB, maxMessageBytes: 8 * MB } });
    await unary(h.clients.registry, "upsertApp", { app: { id: "big", name: "big", published: true } });
  }

  const push = (size: number, fill = "x") =>
    unary<{ offset: string }>(h.clients.hub, "sendPush", { appId: "big", allActive: true, content: { data: fill.repeat(size) } });

  function session(): http2.ClientHttp2Session {
    const s = RawWatch.connect(h.grpcPort);
    sessions.push(s);
    return s;
  }

  afterEach(async () => {
    for (const s of sessions.splice(0)) s.destroy();
    await h?.stop();
  });

  it("ends a stream that stops reading once more than --watch-queue-bytes wait, with SLOW_CONSUMER and the exact offset to resume from", async () => {
    await start(1 * MB);
    const stalled = new RawWatch(session(), { appId: "big" });
    stalled.stream.pause();
    await watchersLive(h);
    let endedAt = 0;
    let sent = 0;
    h.fanOut.once("ended", (_app, kind) => {
      if (kind === "slow") endedAt = sent;
    });
    // 300 KB events: the first is in the transport unsent (its 16 KB window aside), two more fit in
    // the queue (900 KB waiting); the fourth would make 1.2 MB. Without counting what the transport
    // holds, the fourth would still fit.
    while (endedAt === 0 && sent < 20) {
      sent++;
      await push(300 * KB, String(sent % 10));
    }
    assert.equal(endedAt, 4, "ended by the event that would put more than 1 MB waiting");
    for (let i = 0; i < 3; i++) await push(1000);
    sent += 3;

    stalled.stream.resume();
    const trailers = await stalled.trailers;
    assert.equal(trailers["grpc-status"], "8");
    assert.equal(trailers["herald-reason"], "SLOW_CONSUMER");
    const resumeAfter = Number(trailers["herald-resume-after"]);
    assert.ok(resumeAfter >= 1, "something was delivered");
    assert.deepEqual(stalled.offsets, contiguous(1, resumeAfter), "delivered exactly up to the resume offset");

    const again = new Watch(h.clients.hub, { appId: "big", resumeAfter: String(resumeAfter) }, { keepContent: false });
    await again.received(sent - resumeAfter);
    assert.deepEqual(again.offsets(), contiguous(resumeAfter + 1, sent), "the rest, from the resume offset, once each");
    again.cancel();
  });

  it("never ends a stream that reads, however large its events (one larger than the bound included)", async () => {
    await start(1 * MB);
    const reader = new Watch(h.clients.hub, { appId: "big" }, { keepContent: false });
    await watchersLive(h);
    let ended = false;
    h.fanOut.once("ended", () => (ended = true));
    // Bursts of three 300 KB events, sent without waiting for the reader, fit in 1 MB however far
    // behind it is (one in the transport, two queued); then one of 1.5 MB, alone.
    const bursts = [[300 * KB, 300 * KB, 300 * KB], [300 * KB, 300 * KB, 300 * KB], [1536 * KB], [300 * KB, 300 * KB, 300 * KB]];
    let sent = 0;
    for (const burst of bursts) {
      for (const size of burst) await push(size);
      sent += burst.length;
      await reader.received(sent);
    }
    assert.equal(ended, false);
    assert.deepEqual(reader.offsets(), contiguous(1, sent));
    reader.cancel();
  });

  it("gives a consumer that reads in fits and starts, within the bounds, everything in order, and never ends it", async () => {
    await start(1 * MB);
    const fitful = new RawWatch(session(), { appId: "big" });
    fitful.stream.pause();
    await watchersLive(h);
    let ended = false;
    h.fanOut.once("ended", () => (ended = true));
    // Each round, while it reads nothing: one event in the transport, the rest queued, 906 KB in all.
    const round = [300 * KB, 2 * KB, 2 * KB, 300 * KB, 2 * KB, 300 * KB];
    let sent = 0;
    for (let r = 0; r < 4; r++) {
      for (const size of round) await push(size, String(++sent % 10));
      assert.ok(fitful.offsets.length < sent, "the stream was really held back");
      await fitful.received(sent);
      fitful.stream.pause();
    }
    assert.equal(ended, false);
    assert.deepEqual(fitful.offsets, contiguous(1, sent));
  });

  it("shares one encoded event among the streams that hold it: no copy per stalled stream", async () => {
    await start(16 * MB);
    const n = 60;
    const s = session();
    const stalled = Array.from({ length: n }, () => new RawWatch(s, { appId: "big" }));
    // Each stops reading at its first bytes: the transport has the event and cannot send the rest.
    const started = stalled.map((w) => once(w.stream, "data").then(() => w.stream.pause()));
    await watchersLive(h, n);
    gc();
    const before = process.memoryUsage().arrayBuffers;
    await push(1 * MB);
    await Promise.all(started);
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    // A copy per stream would be 60 MB; shared, the event is held a few times (bus, encoding, request).
    assert.ok(grown < 24 * MB, `array buffers grew by ${(grown / MB).toFixed(1)} MB for ${n} stalled streams`);
    assert.equal(h.fanOut.watcherCount, n, "none was ended");
  });
});
