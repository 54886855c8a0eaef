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
  /** Sees each decoded chunk as it arrives and throws to refuse the body there. */
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
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(options.charset || "utf-8");
  } catch {
    return refuse(req, new FormatError(`unsupported charset "${options.charset}"`));
  }
  return new Promise((resolve, reject) => {
    let received = 0;
    let text = "";
    const stop = (err: Error | undefined) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (!err) return resolve(text);
      req.resume(); // discard the rest without reading it
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.limit) return stop(new TooLargeError(`body larger than ${options.limit} bytes`));
      const part = decoder.decode(chunk, { stream: true });
      try {
        options.scan?.(part);
      } catch (err) {
        return stop(err as Error);
      }
      text += part;
    };
    const onEnd = () => {
      const last = decoder.decode();
      try {
        options.scan?.(last);
      } catch (err) {
        return stop(err as Error);
      }
      text += last;
      stop(undefined);
    };
    const onError = (err: Error) => stop(new FormatError(`body not read: ${err.message}`));
    const onClose = () => stop(new FormatError("connection closed before the body was read"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

function refuse(req: IncomingMessage, err: Error): Promise<never> {
  req.resume();
  return Promise.reject(err);
}
