import { readFileSync } from "node:fs";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectError, type CallOptions, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { UsageError } from "../cli-options.js";
import { unreadable } from "../file-error.js";

/**
 * The client side shared by the `herald` commands that talk to a running Herald over gRPC
 * (`keys`, `watch`, `send`, `apps`, …): where it is, the credential, the connection, and what a
 * failure means to a script (exit code) and to an operator (one line on stderr).
 */

/** Exit codes a script can branch on. */
export const CliExit = { ok: 0, failed: 1, usage: 2, unreachable: 3, denied: 4, notFound: 5 } as const;

export const DEFAULT_ADDRESS = "http://127.0.0.1:50051";
/** A call not answered in time counts as an unreachable Herald (a dropped packet never refuses). */
export const CALL_TIMEOUT_MS = 10_000;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** The parseArgs options every client command takes. */
export const connectionOptions = {
  address: { type: "string" },
  ca: { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  "key-file": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface ConnectionValues {
  address?: string | undefined;
  ca?: string | undefined;
  "client-cert"?: string | undefined;
  "client-key"?: string | undefined;
  "key-file"?: string | undefined;
}

export interface Target {
  url: URL;
  key: string | undefined;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  /** The host a key would travel to in clear text (plain http:// to anything but loopback). */
  cleartextTo: string | undefined;
}

/** The address, TLS files and credential from the flags and the environment; UsageError when they do not make one. */
export function targetOf(values: ConnectionValues, env: NodeJS.ProcessEnv): Target {
  const address = values.address ?? (env["HERALD_ADDRESS"] || DEFAULT_ADDRESS);
  // host:port alone, as gRPC tools take it, means plain http.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--address ${address} is not a URL (e.g. http://127.0.0.1:50051 or https://herald.example:50051)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--address must be http:// or https://, got ${address}`);
  const https = url.protocol === "https:";
  for (const flag of ["ca", "client-cert", "client-key"] as const) {
    if (values[flag] !== undefined && !https) throw new UsageError(`--${flag} is for an https:// --address; got ${url.origin}`);
  }
  if ((values["client-cert"] === undefined) !== (values["client-key"] === undefined)) {
    throw new UsageError("--client-cert and --client-key go together");
  }
  const tls = {
    ...(values.ca !== undefined ? { ca: readFlagFile("ca", values.ca) } : {}),
    ...(values["client-cert"] !== undefined ? { cert: readFlagFile("client-cert", values["client-cert"]) } : {}),
    ...(values["client-key"] !== undefined ? { key: readFlagFile("client-key", values["client-key"]) } : {}),
  };
  const key = credential(values["key-file"], env);
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  return {
    url,
    key,
    tls: Object.keys(tls).length > 0 ? tls : undefined,
    cleartextTo: key !== undefined && !https && !loopback ? url.host : undefined,
  };
}

/** --key-file, else HERALD_KEY, else the file HERALD_KEY_FILE names (as the server's secrets); trailing newlines dropped. */
function credential(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let key: string | undefined;
  let from: string;
  if (file !== undefined) {
    key = readFlagFile("key-file", file)
      .toString("utf8")
      .replace(/[\r\n]+$/, "");
    from = `--key-file ${file}`;
  } else if (env["HERALD_KEY"]) {
    key = env["HERALD_KEY"];
    from = "HERALD_KEY";
  } else if (env["HERALD_KEY_FILE"]) {
    const path = env["HERALD_KEY_FILE"];
    key = readFlagFile("key-file", path, "HERALD_KEY_FILE")
      .toString("utf8")
      .replace(/[\r\n]+$/, "");
    from = `HERALD_KEY_FILE ${path}`;
  } else {
    return undefined;
  }
  if (key === "") throw new UsageError(`${from} is empty`);
  // Anything else would not make a valid header value, or was pasted with more than the key.
  if (!/^[\x21-\x7e]+$/.test(key)) throw new UsageError(`${from}: the key must be one word of printable ASCII`);
  return key;
}

/** The bytes of a file named by a flag; UsageError (exit 2) when it cannot be read. */
export function readFlagFile(flag: string, path: string, name = `--${flag}`): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${name} ${path}: ${unreadable(err)}`);
  }
}

export interface Connection {
  transport: Transport;
  /** For a unary call: the credential, and a deadline. */
  call: CallOptions;
  /** For a stream: the credential, no deadline. */
  stream: CallOptions;
  /** Resolves "open" once connected (or "error"): a stream has no answer to wait for before its first message. */
  connect(): Promise<"open" | "idle" | "error">;
  close(): void;
}

/**
 * One HTTP/2 connection to the target. `watching`: ping it, so that a peer gone without a word
 * (a host powered off, a cut network) ends a quiet stream instead of leaving it open for ever.
 */
export function openConnection(target: Target, opts: { watching?: boolean } = {}): Connection {
  const session = new Http2SessionManager(
    target.url,
    opts.watching ? { pingIntervalMs: 30_000, pingTimeoutMs: 15_000, pingIdleConnection: true } : undefined,
    target.tls,
  );
  const headers = target.key !== undefined ? { authorization: `Bearer ${target.key}` } : undefined;
  return {
    transport: createGrpcTransport({ baseUrl: target.url.href, sessionManager: session }),
    call: { timeoutMs: CALL_TIMEOUT_MS, ...(headers ? { headers } : {}) },
    stream: headers ? { headers } : {},
    connect: () => session.connect(),
    close() {
      // A connection still being made (to a host that drops packets) would hold the process for
      // minutes. An open one is unref'd by connect-node when idle, so it is left to the exit:
      // aborting one that failed with a protocol error (--address naming an HTTP/1 port) makes Node
      // emit an 'error' nobody listens to any more, a crash.
      if (session.state() === "connecting") session.abort();
    },
  };
}

/** The warning to print before sending a key unencrypted, if it would be. */
export function cleartextWarning(target: Target): string | undefined {
  return target.cleartextTo ? `warning: sending the key unencrypted to ${target.cleartextTo}; use an https:// --address` : undefined;
}

/** What a denied call needed, for the permission-denied line. */
export interface FailureHints {
  /** e.g. "key management needs the admin key or an admin API key" */
  denied?: string;
  /** what to give when none was: e.g. "the admin key" */
  credential?: string;
  /** The connection had been open (a stream that broke, rather than a call that never got through). */
  connected?: boolean;
}

/** The exit code of a failed call, and its one line: what went wrong, and Herald's reason when it gave one. */
export function failure(err: ConnectError, target: Target, hints: FailureHints = {}): { code: number; message: string } {
  const reason = err.metadata.get("herald-reason");
  const detail = `${err.rawMessage}${reason ? ` (${reason})` : ""}`;
  const unreachable = (why: string) => ({
    code: CliExit.unreachable,
    message: `${hints.connected ? "lost the connection to" : "cannot reach"} Herald at ${target.url.origin}: ${why}`,
  });
  const broken = connectionFailure(err, hints.connected ?? false);
  if (broken !== undefined) return unreachable(broken);
  switch (err.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      // With a reason, Herald itself answered (shutting down, storage unreachable).
      return reason
        ? { code: CliExit.unreachable, message: `Herald at ${target.url.origin} is unavailable: ${detail}` }
        : unreachable(detail);
    // Nothing here cancels a call: the connection was cut, as a TLS port does to plain HTTP/2.
    case Code.Canceled:
      return unreachable(`${detail}${target.url.protocol === "http:" && !hints.connected ? "; does the port want TLS (https://)?" : ""}`);
    case Code.Unauthenticated:
      return {
        code: CliExit.denied,
        message: `not authenticated: ${detail}${target.key === undefined ? `; give ${hints.credential ?? "a key"} in HERALD_KEY or --key-file` : ""}`,
      };
    case Code.PermissionDenied:
      return { code: CliExit.denied, message: `permission denied: ${detail}${hints.denied ? ` (${hints.denied})` : ""}` };
    case Code.NotFound:
      return { code: CliExit.notFound, message: detail };
    case Code.InvalidArgument:
      return { code: CliExit.usage, message: `refused: ${detail}` };
    default:
      return { code: CliExit.failed, message: `${Code[err.code] ?? err.code}: ${detail}` };
  }
}

/**
 * Why no answer came, when the call failed on the connection (Node's error as the cause) rather
 * than with a status from a server: connect-node reports some of these as INTERNAL.
 */
function connectionFailure(err: ConnectError, connected: boolean): string | undefined {
  const cause = err.cause;
  if (!(cause instanceof Error)) return undefined;
  const code = (cause as NodeJS.ErrnoException).code;
  if (typeof code !== "string") return undefined;
  // OpenSSL's messages run over several lines; its reason is the useful part.
  const sslReason = (cause as { reason?: unknown }).reason;
  if (code.startsWith("ERR_SSL_")) {
    const why = `TLS failed (${typeof sslReason === "string" ? sslReason : code})`;
    if (code === "ERR_SSL_WRONG_VERSION_NUMBER") return `${why}: is the port plain gRPC (http://)?`;
    if (code === "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED") return `${why}: it wants a client certificate (--client-cert, --client-key)`;
    return why;
  }
  if (code.startsWith("ERR_HTTP2_") && !connected) return `${cause.message.split("\n")[0]}: not an HTTP/2 (gRPC) port?`;
  const message = cause.message.split("\n")[0];
  return UNTRUSTED.has(code) ? `${message}: give the CA that signed its certificate with --ca` : message;
}

/** Node's codes for a server certificate no trusted CA vouches for. */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);

/** The help text of the connection options, as every client command prints it. */
export function connectionUsage(credential = "the credential (an API key, or the admin key)"): string {
  return `Connection:
  --address URL      Herald's gRPC port (HERALD_ADDRESS; default ${DEFAULT_ADDRESS}); https:// for TLS
  --ca FILE          with https://: PEM CA file the server's certificate is checked against
                     (default: the system's roots)
  --client-cert FILE with https://: PEM certificate to present to a server that asks for one
                     (--tls-client-ca), with --client-key FILE (its private key)
  --key-file FILE    file holding ${credential}; else the environment variable HERALD_KEY,
                     else the file HERALD_KEY_FILE names (never on the command line)
  -h, --help         this text
`;
}

export const EXIT_CODES_USAGE = `Exit codes:
  0 done; 1 anything else; 2 usage (bad flags or arguments, or refused as invalid by Herald);
  3 Herald unreachable or unavailable; 4 credential refused (unauthenticated, or not allowed);
  5 not found
`;

/** A message in the proto3 JSON mapping, indented. */
export function json<D extends DescMessage>(schema: D, message: MessageShape<D>): string {
  return `${JSON.stringify(toJson(schema, message, { alwaysEmitImplicit: true }), null, 2)}\n`;
}

/** A timestamp to the second, as tables show it. */
export const iso = (t: Timestamp) =>
  timestampDate(t)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z");

/** Repeated and comma-separated values alike: `--app a,b --app c`. */
export const words = (values: string[] | undefined) =>
  (values ?? [])
    .flatMap((v) => v.split(","))
    .map((w) => w.trim())
    .filter((w) => w !== "");
