import { request, type IncomingHttpHeaders } from "node:http";

export interface HttpReply {
  status: number;
  contentType: string | undefined;
  body: string;
  headers?: IncomingHttpHeaders;
}

/**
 * A plain HTTP/1.1 request over a real socket. Not fetch: fetch turns a 407 (the documents'
 * "event not published") into a network error, as the Fetch standard reserves it for proxies.
 */
export function http(url: string, method: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          body: Buffer.concat(chunks).toString("utf8"),
          headers: res.headers,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs a body as-is with the given Content-Type (none when undefined). */
export function post(url: string, body: string | Uint8Array, contentType: string | undefined): Promise<HttpReply> {
  return http(url, "POST", body, contentType === undefined ? {} : { "content-type": contentType });
}

export function get(url: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return http(url, "GET", undefined, headers);
}

export const XML = "text/xml;charset=UTF-8";
export const JSON_TYPE = "application/json;charset=UTF-8";
