/**
 * Dialogic's own public XMS clients, reduced to how each one talks to the event handler routes:
 * how it builds the stream's URL from the create reply, how it cuts the stream into documents, and
 * what its XML reader refuses. Written from reading them (Dialogic's repositories on GitHub, named
 * on each function), not copied: the tests hold Herald to what those clients do.
 */
import { request } from "node:http";
import { xml2js, type Element } from "xml-js";
import { post, type HttpReply } from "./http.js";
import { CharFrameReader, HttpChunks } from "./xms-client.js";

/**
 * `event_type` of Dialogic's xmsrest.xsd (the schema the Java client library binds with XMLBeans,
 * dialogic-XMSClientLibrary XMSClientLibrary/src/xmsrest.xsd, XMS 3.5; older copies in
 * dialogic-rest-java and dialogic-rest-csharp hold a prefix of this list). Kept here, apart from
 * the facade's own list, so that a change to either shows.
 */
export const SCHEMA_EVENT_TYPES: readonly string[] = [
  "end_play",
  "end_record",
  "end_playcollect",
  "end_playrecord",
  "end_overlay",
  "end_dtmf",
  "keepalive",
  "incoming",
  "ringing",
  "connected",
  "hangup",
  "info",
  "dtmf",
  "tone",
  "any",
  "end_speak",
  "start_of_input",
  "end_recognize",
  "answered",
  "accepted",
  "updated",
  "active_talker",
  "alarm",
  "prack",
  "conf_overlay_expired",
  "message",
  "end_send_message",
  "stream",
  "speech_marker",
  "start_play",
  "end_event",
  "progress",
  "prack_ack",
  "status",
  "info_ack",
];
/** `event_resource_type` of the same schema (`eventsubscribe resource_type`). */
export const SCHEMA_RESOURCE_TYPES: readonly string[] = ["call", "conference", "mrcp", "any"];

/** One event as a client reads it: its attributes and its event_data, name → value. */
export interface ReadEvent {
  type: string;
  attributes: Record<string, string>;
  data: Record<string, string>;
}

/** Characters XML 1.0 allows in a document, references included. */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * What makes a stream document invalid against xmsrest.xsd's `web_service` and `event`: one
 * `web_service version="1.0"` root holding one `event`, whose `type` is an `event_type`, with
 * only `resource_type` and `resource_id` besides, holding only `event_data name value`. A
 * malformed document is one problem. Empty when valid.
 */
export function schemaProblems(xml: string): string[] {
  let doc: Element;
  try {
    doc = xml2js(xml, { compact: false, trim: true }) as Element;
  } catch (err) {
    return [`not well-formed: ${(err as Error).message.split("\n")[0]}`];
  }
  const problems: string[] = [];
  const elements = (el: Element) => {
    for (const c of el.elements ?? []) if (c.type !== "element") problems.push(`${el.name}: ${c.type} content`);
    return (el.elements ?? []).filter((c) => c.type === "element");
  };
  const attributes = (el: Element, allowed: readonly string[], required: readonly string[]) => {
    const attrs = (el.attributes ?? {}) as Record<string, string>;
    for (const name of Object.keys(attrs)) if (!allowed.includes(name)) problems.push(`${el.name}: attribute ${name}`);
    for (const name of required) if (attrs[name] === undefined) problems.push(`${el.name}: no ${name}`);
    for (const value of Object.values(attrs)) if (NOT_XML_CHAR.test(String(value))) problems.push(`${el.name}: not an XML character`);
    return attrs;
  };
  const roots = elements(doc);
  if (roots.length !== 1 || roots[0]!.name !== "web_service") return [...problems, `roots: ${roots.map((r) => r.name).join(", ")}`];
  const ws = roots[0]!;
  if (attributes(ws, ["version"], ["version"])["version"] !== "1.0") problems.push("web_service: version is not 1.0");
  const children = elements(ws);
  if (children.length !== 1 || children[0]!.name !== "event")
    return [...problems, `web_service holds ${children.map((c) => c.name).join(", ")}`];
  const event = children[0]!;
  const type = attributes(event, ["type", "resource_type", "resource_id"], ["type"])["type"];
  if (type !== undefined && !SCHEMA_EVENT_TYPES.includes(type)) problems.push(`event type "${type}" is not an event_type`);
  for (const d of elements(event)) {
    if (d.name !== "event_data") problems.push(`event holds ${d.name}`);
    attributes(d, ["name", "value"], ["name", "value"]);
    if (elements(d).length > 0) problems.push("event_data holds elements");
  }
  return problems;
}

/** A stream document as a client's DOM reader sees it (strict: one root, well-formed). */
export function readEvent(xml: string): ReadEvent | undefined {
  const doc = xml2js(xml, { compact: false, trim: true }) as Element;
  const roots = (doc.elements ?? []).filter((e) => e.type === "element");
  if (roots.length !== 1) throw new Error(`Extra content at the end of the document (${roots.length} roots)`);
  const event = roots[0]!.elements?.find((e) => e.name === "event");
  if (!event) return undefined;
  const attributes = Object.fromEntries(Object.entries(event.attributes ?? {}).map(([k, v]) => [k, String(v)]));
  const data: Record<string, string> = {};
  for (const d of event.elements ?? []) data[String(d.attributes?.["name"])] = String(d.attributes?.["value"]);
  return { type: attributes["type"] ?? "", attributes, data };
}

/** The `href` of an `eventhandler_response` in a reply, as a DOM reader gets it. */
function hrefOf(reply: HttpReply): string {
  const doc = xml2js(reply.body, { compact: true }) as Record<string, any>;
  return doc["web_service"].eventhandler_response._attributes.href as string;
}

const SUBSCRIBE_ANY =
  '<web_service version="1.0"> <eventhandler><eventsubscribe action="add" type="any" resource_id="any" resource_type="any"/> </eventhandler></web_service>';

/** Documents a client has read so far, and what stopped it, if anything. */
abstract class Reader {
  readonly events: ReadEvent[] = [];
  /** Documents it could not read, kept going (a client that ignores the error). */
  readonly unreadable: string[] = [];
  /** What ended the client, if something did (a client that dies on it). */
  fatal: Error | undefined;
  private waiters: Array<() => void> = [];

  /** Resolves once `n` events other than keepalives were read; fails if the client died or after `timeoutMs`. */
  async received(n: number, timeoutMs = 5000): Promise<ReadEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const real = this.events.filter((e) => e.type !== "keepalive");
      if (this.fatal) throw this.fatal;
      if (real.length >= n) return real;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} events; read ${JSON.stringify(real.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  abstract close(): void;

  protected wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * dialogic-node.js `node-xmseventmon.js`: POSTs to /default/eventhandlers, takes
 * `eventhandler_response`'s `href` and GETs `'http://' + host + ':' + port + href + '?appid='`.
 * Each `data` event of the response is one event: decoded as ASCII, the hex length is what stands
 * before `<web_service`, the rest is parsed (a parse error is ignored).
 */
export class NodeEventMon extends Reader {
  private constructor(private readonly req: ReturnType<typeof request>) {
    super();
  }

  /** The create reply it got, and the URL it built from it. */
  created!: HttpReply;
  url!: string;

  static async start(host: string, port: number, appid: string): Promise<NodeEventMon> {
    const created = await post(`http://${host}:${port}/default/eventhandlers?appid=${appid}`, SUBSCRIBE_ANY, "application/xml");
    if (created.status !== 201) throw new Error(`ERROR connecting to XMS!! ${created.status}`);
    const url = `http://${host}:${port}${hrefOf(created)}?appid=${appid}`;
    // The sample's `request.get(url)` has no error listener: a bad URL ends the process.
    const req = request(url, { agent: false });
    const mon = new NodeEventMon(req);
    Object.assign(mon, { created, url });
    req.on("response", (res) => {
      res.on("data", (buf: Buffer) => {
        const event = buf.toString("ascii");
        const xml = event.substring(event.indexOf("<web_service"));
        try {
          const read = readEvent(xml);
          if (read) mon.events.push(read);
        } catch (err) {
          mon.unreadable.push(`${(err as Error).message}: ${JSON.stringify(event.slice(0, 80))}`);
        }
        mon.wake();
      });
    });
    req.on("error", (err) => {
      mon.fatal ??= err;
      mon.wake();
    });
    req.end();
    return mon;
  }

  close(): void {
    this.req.destroy();
  }
}

/**
 * The Java listeners. XMSRestTest `src/xmsresttest2/XMSEventListener.java`: POSTs to
 * /default/eventhandlers, takes `href` with the regex `href="(.*?)"` and GETs `href + "?appid="`
 * on the host; XMSClientLibrary `xmsEventHandler.java` GETs `eventhandlers/<identifier>` under its
 * base address instead. Both read the body with a BufferedReader: hex length line, then that many
 * characters. XMSClientLibrary then parses each document with XMLBeans over xmsrest.xsd and calls
 * `event.getType().toString()`: a type outside `event_type` is a null enum, a NullPointerException
 * that ends its event thread; so does a document with no `event` ("Can not find event node").
 */
export class JavaListener extends Reader {
  readonly documents: string[] = [];

  private constructor(private readonly req: ReturnType<typeof request>) {
    super();
  }

  static async start(host: string, port: number, appid: string, how: "href" | "identifier"): Promise<JavaListener> {
    const base = `http://${host}:${port}`;
    const created = await post(
      `${base}/default/eventhandlers?appid=${appid}`,
      '<web_service version="1.0"><eventhandler><eventsubscribe type="any" resource_id="any" resource_type="any"/></eventhandler></web_service>',
      "text/xml;charset=UTF-8",
    );
    if (created.status !== 201) throw new Error(`create answered ${created.status}`);
    const href = /href="(.*?)"/.exec(created.body)?.[1];
    const identifier = /identifier="(.*?)"/.exec(created.body)?.[1];
    if (href === undefined || identifier === undefined) throw new Error("No href found!");
    // HttpClient's execute(host, get) resolves a path against the host; an absolute URI stands.
    const url =
      how === "href" ? new URL(`${href}?appid=${appid}`, base) : new URL(`/default/eventhandlers/${identifier}?appid=${appid}`, base);
    const req = request(url, { agent: false });
    const listener = new JavaListener(req);
    const reader = new CharFrameReader();
    req.on("response", (res) => {
      res.on("data", (buf: Buffer) => {
        try {
          for (const xml of reader.push(buf)) {
            listener.documents.push(xml);
            listener.xmlBeans(xml);
          }
        } catch (err) {
          listener.fatal ??= err as Error;
          req.destroy();
        }
        listener.wake();
      });
    });
    req.on("error", (err) => {
      listener.fatal ??= err;
      listener.wake();
    });
    req.end();
    return listener;
  }

  close(): void {
    this.req.destroy();
  }

  /** XMSClientLibrary's handling of one document: cleaned, parsed, typed by the schema's enum. */
  private xmlBeans(xml: string): void {
    const open = '<web_service version="1.0">';
    const start = xml.indexOf(open) + open.length;
    const end = xml.indexOf("</web_service>", start);
    if (start < open.length || end < 0) throw new Error(`StringIndexOutOfBoundsException: ${JSON.stringify(xml.slice(0, 80))}`);
    const event = readEvent(`${open}${xml.substring(start, end)}</web_service>`);
    if (!event) throw new Error("Can not find event node");
    if (!SCHEMA_EVENT_TYPES.includes(event.type)) throw new Error(`NullPointerException: event type "${event.type}" is not an event_type`);
    this.events.push(event);
  }
}

/**
 * dialogic-rest-perl `xms_rest_helloworld.pl`: an absolute `href` is used as it is, one starting
 * with `/` gets `http://host:81` in front. Its LWP chunk handler takes each HTTP chunk: at the start
 * of an event it strips `^hex\r\n` (a chunk without it is dropped), then collects chunks until it
 * holds at least that many bytes, and parses them with XML::LibXML, which dies on anything more.
 */
export function perlHelloWorldUrl(host: string, port: number, href: string, appid: string): string {
  if (/^http/.test(href)) return `${href}?appid=${appid}`;
  if (/^\//.test(href)) return `http://${host}:${port}${href}?appid=${appid}`;
  throw new Error("No event handler response URI found in initial response from XMS");
}

/** The Perl sample's chunk handler over the chunks received: the events it handled, the chunks it dropped. */
export function perlChunkHandler(chunks: readonly Buffer[]): { events: ReadEvent[]; dropped: string[] } {
  const events: ReadEvent[] = [];
  const dropped: string[] = [];
  let middle = false;
  let collected = "";
  let expected = 0;
  for (const chunk of chunks) {
    let data = chunk.toString("latin1"); // Perl's bytes
    if (!middle) {
      const m = /^([0-9A-Fa-f]+)\r\n/.exec(data);
      if (!m) {
        dropped.push(data);
        continue;
      }
      expected = parseInt(m[1]!, 16);
      data = data.slice(m[0].length);
    }
    collected += data;
    if (collected.length >= expected) {
      const read = readEvent(Buffer.from(collected, "latin1").toString("utf8")); // dies on extra content
      if (read) events.push(read);
      middle = false;
      collected = "";
    } else {
      middle = true;
    }
  }
  return { events, dropped };
}

/**
 * dialogic-rest-cpp `appframework.cpp` / `appframework.h`: the stream's URL is
 * `"http://" + xmsAddr + href + "?appid=app"` (a path is expected), and each curl write callback
 * (one HTTP chunk) is one event, enqueued from its fifth byte on (`eventPtr + 4`: a two-digit
 * length and CRLF), then parsed.
 */
export function cppLongPollUrl(host: string, port: number, href: string, appid: string): string {
  return `http://${host}:${port}${href}?appid=${appid}`;
}

export function cppLongPollEvents(chunks: readonly Buffer[]): ReadEvent[] {
  return chunks.flatMap((c) => {
    const read = readEvent(c.subarray(4).toString("utf8"));
    return read ? [read] : [];
  });
}

export { HttpChunks };
