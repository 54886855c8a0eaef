import { once } from "node:events";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { xml2js } from "xml-js";

/**
 * Splits an XMS event stream body into its documents: each is its byte length in hexadecimal,
 * CRLF, then exactly that many bytes of XML. Chunks may cut anywhere, a length line included.
 */
export class FrameParser {
  /** The length line read so far. */
  private head: Buffer = Buffer.alloc(0);
  /** Bytes of the current document, while its length is known. */
  private need: number | undefined;
  private parts: Buffer[] = [];
  private have = 0;

  /** The documents completed by this chunk, in order. */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let data = chunk;
    while (data.length > 0 || this.need === 0) {
      if (this.need === undefined) {
        const head = this.head.length === 0 ? data : Buffer.concat([this.head, data]);
        const eol = head.indexOf("\r\n");
        if (eol < 0) {
          if (head.length > 16) throw new Error(`no length line: ${JSON.stringify(head.subarray(0, 32).toString())}`);
          this.head = head;
          return out;
        }
        const line = head.subarray(0, eol).toString("latin1");
        if (!/^[0-9a-fA-F]{1,8}$/.test(line)) throw new Error(`bad length line ${JSON.stringify(line)}`);
        this.head = Buffer.alloc(0);
        this.need = parseInt(line, 16);
        data = head.subarray(eol + 2);
        continue;
      }
      const take = Math.min(this.need - this.have, data.length);
      this.parts.push(data.subarray(0, take));
      this.have += take;
      data = data.subarray(take);
      if (this.have === this.need) {
        out.push(Buffer.concat(this.parts).toString("utf8"));
        this.parts = [];
        this.have = 0;
        this.need = undefined;
      }
    }
    return out;
  }

  /** Bytes of an unfinished document, if the stream ended in the middle of one. */
  get pending(): number {
    return this.head.length + this.have + (this.need === undefined ? 0 : 1);
  }
}

/** One streamed `event`: its attributes and its event_data as name → value. */
export interface XmsEvent {
  type: string;
  resourceId: string | undefined;
  resourceType: string | undefined;
  data: Record<string, string>;
  /** The document as received. */
  xml: string;
}

/** A document of the stream: an event, or another `web_service` child (the handler's description). */
export type XmsDocument = { event: XmsEvent } | { other: Record<string, any>; xml: string };

/** Deterministic pseudo-random chunk sizes (xorshift), so a failure replays the same way. */
function* chunkSizes(seed: number): Generator<number> {
  let x = seed || 1;
  for (;;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    yield 1 + (Math.abs(x) % 23);
  }
}

/**
 * An XMS client as one would be written: a plain HTTP GET held open, the body parsed by the
 * length framing. The bytes received are re-cut into small pseudo-random pieces before parsing,
 * so every run crosses document and length-line boundaries in many places.
 */
export class XmsStream {
  readonly documents: XmsDocument[] = [];
  /** Resolves when the server ends the response (the handler was deleted, or the server stopped). */
  readonly ended: Promise<void>;
  private readonly waiters: Array<() => void> = [];
  private failure: Error | undefined;
  private done = false;
  /** The body of a response other than 200 (an error document), once it ended. */
  body = "";

  private constructor(
    private readonly req: ClientRequest,
    readonly response: IncomingMessage,
    seed: number,
  ) {
    const parser = new FrameParser();
    const sizes = chunkSizes(seed);
    this.ended = new Promise((resolve, reject) => {
      if (response.statusCode !== 200) {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => {
          this.body = Buffer.concat(chunks).toString("utf8");
          this.done = true;
          resolve();
        });
        response.on("error", reject);
        return;
      }
      response.on("data", (chunk: Buffer) => {
        try {
          for (let at = 0; at < chunk.length; ) {
            const n = sizes.next().value as number;
            for (const xml of parser.push(chunk.subarray(at, at + n))) this.documents.push(parse(xml));
            at += n;
          }
        } catch (err) {
          this.failure = err as Error;
          req.destroy();
        }
        this.wake();
      });
      response.on("end", () => {
        this.done = true;
        if (parser.pending > 0) this.failure ??= new Error(`stream ended inside a document (${parser.pending} bytes)`);
        this.wake();
        if (this.failure) reject(this.failure);
        else resolve();
      });
      response.on("error", (err) => {
        this.failure ??= err;
        this.done = true;
        this.wake();
        reject(err);
      });
    });
    this.ended.catch(() => undefined);
  }

  /** Opens the GET (with these request headers); resolves with the response started (any status). */
  static open(url: string, seed = 7, headers: Record<string, string> = {}): Promise<XmsStream> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: "GET", agent: false, headers }, (res) => resolve(new XmsStream(req, res, seed)));
      req.on("error", reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The events received so far (keepalives included). */
  get events(): XmsEvent[] {
    return this.documents.flatMap((d) => ("event" in d ? [d.event] : []));
  }

  /** Events other than keepalives. */
  get realEvents(): XmsEvent[] {
    return this.events.filter((e) => e.type !== "keepalive");
  }

  /** Resolves once `test` holds on what was received, failing if the stream ends first or after `timeoutMs`. */
  async until(test: (s: this) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this)) {
      if (this.failure) throw this.failure;
      if (this.done)
        throw new Error(
          `stream ended before ${what}; got ${JSON.stringify(this.documents.map((d) => ("event" in d ? d.event.type : "other")))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.documents.length} documents`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `n` non-keepalive events in all. */
  received(n: number, timeoutMs?: number): Promise<void> {
    return this.until((s) => s.realEvents.length >= n, `${n} events`, timeoutMs);
  }

  close(): void {
    this.req.destroy();
    this.response.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function parse(xml: string): XmsDocument {
  const doc = xml2js(xml, { compact: true }) as Record<string, any>;
  const ws = doc["web_service"];
  if (!ws) throw new Error(`not a web_service document: ${xml}`);
  const ev = ws["event"];
  if (!ev) return { other: ws, xml };
  const a = ev._attributes ?? {};
  const data: Record<string, string> = {};
  const items = ev["event_data"] === undefined ? [] : Array.isArray(ev["event_data"]) ? ev["event_data"] : [ev["event_data"]];
  for (const d of items) data[d._attributes.name] = d._attributes.value;
  return { event: { type: a.type, resourceId: a.resource_id, resourceType: a.resource_type, data, xml } };
}

/**
 * Reads an XMS stream as Dialogic's Java and C# listeners do (XMSRestTest's XMSEventListener,
 * XMSClientLibrary's xmsEventHandler, MCXMSLib's EventDispatcher): the body decoded as text, a
 * line read as the hexadecimal length, then that many *characters* (UTF-16 units, Java's and
 * .NET's `char`), and again. Empty lines between documents are skipped, as XMSClientLibrary
 * does. A length that is not a character count shows as a document cut short or running into
 * the next, or a length line that is not hexadecimal (Java's NumberFormatException).
 */
export class CharFrameReader {
  private readonly decoder = new TextDecoder("utf-8");
  private text = "";
  private need: number | undefined;

  /** The documents completed by this chunk, in order. */
  push(chunk: Uint8Array): string[] {
    this.text += this.decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    for (;;) {
      if (this.need === undefined) {
        const eol = this.text.search(/\r\n|\r|\n/);
        if (eol < 0) return out;
        const line = this.text.slice(0, eol);
        this.text = this.text.slice(eol + (this.text.startsWith("\r\n", eol) ? 2 : 1));
        if (line.trim() === "") continue;
        if (!/^[0-9a-fA-F]+$/.test(line)) throw new Error(`NumberFormatException: For input string: ${JSON.stringify(line)}`);
        this.need = parseInt(line, 16);
      }
      if (this.text.length < this.need) return out;
      out.push(this.text.slice(0, this.need));
      this.text = this.text.slice(this.need);
      this.need = undefined;
    }
  }
}

/**
 * A GET read at the HTTP level: the response's chunks as they were sent, each one a Buffer. Some
 * of Dialogic's samples take one HTTP chunk as one event (dialogic-rest-perl's chunk handler,
 * dialogic-rest-cpp's curl callback), so what a chunk holds is part of the contract in practice.
 */
export class HttpChunks {
  readonly chunks: Buffer[] = [];
  status = 0;
  headers: Record<string, string> = {};
  /** Resolves when the response ends (the last chunk) or the connection closes. */
  readonly ended: Promise<void>;
  private buffered: Buffer = Buffer.alloc(0);
  private inHead = true;
  private waiters: Array<() => void> = [];
  private failure: Error | undefined;
  private done = false;

  private constructor(private readonly socket: Socket) {
    this.ended = new Promise((resolve) => {
      socket.on("data", (data: Buffer) => {
        this.buffered = Buffer.concat([this.buffered, data]);
        try {
          this.parse();
        } catch (err) {
          this.failure = err as Error;
          socket.destroy();
        }
        this.wake();
      });
      socket.on("close", () => {
        this.done = true;
        this.wake();
        resolve();
      });
      socket.on("error", (err) => {
        this.failure ??= err;
      });
    });
  }

  /** Sends the GET; resolves once the response's head has arrived. */
  static async open(url: string): Promise<HttpChunks> {
    const u = new URL(url);
    const socket = connect(Number(u.port), u.hostname);
    await once(socket, "connect");
    const reader = new HttpChunks(socket);
    socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: */*\r\n\r\n`);
    await reader.until(() => !reader.inHead, "the response head");
    return reader;
  }

  /** Resolves once `test` holds, failing if the connection ends first or after `timeoutMs`. */
  async until(test: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      if (this.failure) throw this.failure;
      if (this.done) throw new Error(`connection closed before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.chunks.length} chunks`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    if (this.inHead) {
      const end = this.buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine, ...lines] = this.buffered.subarray(0, end).toString("latin1").split("\r\n");
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0);
      for (const line of lines) {
        const colon = line.indexOf(":");
        this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      if (this.headers["transfer-encoding"] !== "chunked") throw new Error(`not a chunked response: ${JSON.stringify(this.headers)}`);
      this.buffered = this.buffered.subarray(end + 4);
      this.inHead = false;
    }
    for (;;) {
      const eol = this.buffered.indexOf("\r\n");
      if (eol < 0) return;
      const size = parseInt(this.buffered.subarray(0, eol).toString("latin1").split(";")[0]!, 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(this.buffered.subarray(0, eol).toString("latin1"))}`);
      if (this.buffered.length < eol + 2 + size + 2) return;
      if (size === 0) {
        this.socket.end();
        return;
      }
      this.chunks.push(Buffer.from(this.buffered.subarray(eol + 2, eol + 2 + size)));
      this.buffered = this.buffered.subarray(eol + 2 + size + 2);
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
