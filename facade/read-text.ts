import type { IncomingMessage } from "node:http";
import { TextDecoder } from "node:util";
import { FormatError } from "./format-error.js";
import type { BodyScan } from "./body-scan.js";

/** A body larger than the limit: answered with 413 in the contract's shape. */
export class TooLargeError extends Error {
  override readonly name = "TooLargeError";
}

export interface ReadTextOptions {
  /** Most bytes read; past it → TooLargeError (at once when Content-Length says so). */
  limit: number;
  /** The Content-Type's charset ("" → UTF-8). */
  charset: string;
  /**
   * Sees each decoded chunk as it arrives and throws to refuse the body there. Not called for a
   * UTF-8 body that arrived whole in its first chunk: the caller's parser must check the same limits.
   */
  scan?: BodyScan;
}

/**
 * Reads a request body as text, refusing it as soon as it goes past the size limit or the scan
 * refuses it, rather than after reading and parsing all of it. A refused body's remaining bytes
 * are discarded unparsed (the connection stays usable); a sender too slow is cut by the server's
 * request timeout. Compressed bodies are refused: a few kilobytes of gzip can inflate to gigabytes,
 * and no legacy client compresses.
 */
export function readText(req: IncomingMessage, options: ReadTextOptions): Promise<string> {
  const encoding = req.headers["content-encoding"];
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    return refuse(req, new FormatError(`content encoding "${encoding}" is not accepted`));
  }
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > options.limit) return refuse(req, new TooLargeError(`body larger than ${options.limit} bytes`));
  const utf8 = UTF8.test(options.charset);
  let decoder: TextDecoder | undefined;
  if (!utf8) {
    try {
      decoder = new TextDecoder(options.charset);
    } catch {
      return refuse(req, new FormatError(`unsupported charset "${options.charset}"`));
    }
  }
  return new Promise((resolve, reject) => {
    let received = 0;
    let text = "";
    const chunks: Buffer[] = [];
    /** Scans a part; false once the scan refused it (and the read is stopped). */
    const scan = (part: string): boolean => {
      try {
        options.scan?.(part);
        return true;
      } catch (err) {
        stop(err as Error);
        return false;
      }
    };
    const stop = (err: Error | undefined) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (!err) return resolve(text);
      req.resume(); // discard the rest without reading it
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.limit) return stop(new TooLargeError(`body larger than ${options.limit} bytes`));
      if (decoder) {
        const part = decoder.decode(chunk, { stream: true });
        text += part;
        if (!scan(part)) return;
      } else {
        chunks.push(chunk);
        // The whole body in its first chunk, as its Content-Length says (nearly every legacy
        // request): nothing is left to refuse before it is read, and the parsers check the same
        // limits, so it is not scanned twice. Otherwise the scans look only at ASCII characters,
        // which UTF-8 never uses inside a multi-byte character, so they read the raw bytes (as
        // Latin-1), and the body is decoded once at the end; no decoder is set up per request.
        if (!(chunks.length === 1 && received === declared) && options.scan && !scan(chunk.toString("latin1"))) return;
      }
    };
    const onEnd = () => {
      if (decoder) {
        const last = decoder.decode();
        if (!scan(last)) return;
        text += last;
      } else {
        text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString("utf8");
        // TextDecoder drops a leading byte order mark; so does this.
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      stop(undefined);
    };
    const onError = (err: Error) => stop(new FormatError(`body not read: ${err.message}`));
    const onClose = () => stop(new FormatError("connection closed before the body was read"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

/** The labels of UTF-8 (WHATWG Encoding), and no charset at all. */
const UTF8 = /^(|utf-?8|unicode-1-1-utf-8|(x-)?unicode20utf8)$/i;

function refuse(req: IncomingMessage, err: Error): Promise<never> {
  req.resume();
  return Promise.reject(err);
}
