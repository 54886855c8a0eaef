import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type CallOptions } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  CreateApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  RegistryService,
  Role,
  type ApiKey,
} from "../../core/gen/herald/v1/registry_pb.js";
import { UsageError } from "../cli-options.js";
import { formatTable } from "./format-table.js";
import { parseDuration } from "./parse-duration.js";
import { unreadable } from "../file-error.js";

/** Exit codes a script can branch on. */
export const KeysExit = { ok: 0, failed: 1, usage: 2, unreachable: 3, denied: 4, notFound: 5 } as const;

export const DEFAULT_ADDRESS = "http://127.0.0.1:50051";
/** A call not answered in time counts as an unreachable Herald (a dropped packet never refuses). */
const CALL_TIMEOUT_MS = 10_000;

export interface KeysIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const options = {
  address: { type: "string" },
  ca: { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  "key-file": { type: "string" },
  role: { type: "string", multiple: true },
  app: { type: "string", multiple: true },
  name: { type: "string" },
  ttl: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

/** The options each command takes besides the connection's. */
const commandOptions: Record<string, ReadonlyArray<keyof Values>> = {
  create: ["role", "app", "name", "ttl", "json"],
  list: ["json"],
  revoke: [],
};
const connectionOptions: ReadonlyArray<keyof Values> = ["address", "ca", "client-cert", "client-key", "key-file", "help"];

const roleByName: Record<string, Role> = { admin: Role.ADMIN, publish: Role.PUBLISH, watch: Role.WATCH };

/**
 * `herald keys create|list|revoke`: API key management against a running Herald over gRPC
 * (RegistryService, admin only). The admin credential comes from the environment or a file, never
 * argv (argv shows in `ps` and shell history). Returns the exit code; every failure is one line on
 * stderr.
 */
export async function runKeysCommand(argv: string[], env: NodeJS.ProcessEnv, io: KeysIo = process): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true }));
  } catch (err) {
    return usageFailure(io, err instanceof Error ? err.message : String(err));
  }
  const [command, ...args] = positionals;
  if (values.help || command === "help") {
    io.stdout.write(keysUsage());
    return KeysExit.ok;
  }
  let target: Target;
  let createApiKey: ReturnType<typeof createRequest> | undefined;
  try {
    if (command === undefined) throw new UsageError("a command is required: create, list or revoke");
    const allowed = commandOptions[command];
    if (!allowed) throw new UsageError(`unknown command "${command}": create, list or revoke`);
    for (const [name, value] of Object.entries(values)) {
      const key = name as keyof Values;
      if (value !== undefined && !allowed.includes(key) && !connectionOptions.includes(key)) {
        throw new UsageError(`--${name} is not an option of "keys ${command}"`);
      }
    }
    if (command === "revoke" ? args.length !== 1 : args.length !== 0) {
      throw new UsageError(command === "revoke" ? "revoke takes one key id: herald keys revoke ID" : `unexpected argument "${args[0]}"`);
    }
    target = targetOf(values, env);
    if (command === "create") createApiKey = createRequest(values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageFailure(io, err.message);
  }

  const session = new Http2SessionManager(target.url, undefined, target.tls);
  const client = createClient(RegistryService, createGrpcTransport({ baseUrl: target.url.href, sessionManager: session }));
  const call: CallOptions = {
    timeoutMs: CALL_TIMEOUT_MS,
    ...(target.key !== undefined ? { headers: { authorization: `Bearer ${target.key}` } } : {}),
  };
  if (target.cleartextTo) {
    io.stderr.write(`herald keys: warning: sending the admin key unencrypted to ${target.cleartextTo}; use an https:// --address\n`);
  }
  try {
    switch (command) {
      case "create": {
        const reply = await client.createApiKey(createApiKey ?? {}, call);
        if (values.json) {
          io.stdout.write(json(CreateApiKeyResponseSchema, reply));
        } else {
          // The key alone on stdout, so that KEY=$(herald keys create …) holds just the key.
          io.stdout.write(`${reply.secret}\n`);
          if (reply.key) io.stderr.write(`${summary(reply.key)}\n`);
        }
        break;
      }
      case "list": {
        const reply = await client.listApiKeys({}, call);
        io.stdout.write(values.json ? json(ListApiKeysResponseSchema, reply) : table(reply.keys, Date.now()));
        break;
      }
      case "revoke": {
        const id = args[0] as string;
        await client.revokeApiKey({ id }, call);
        io.stderr.write(`key ${id} revoked\n`);
        break;
      }
    }
    return KeysExit.ok;
  } catch (err) {
    const { code, message } = failure(ConnectError.from(err), target);
    io.stderr.write(`herald keys: ${message}\n`);
    return code;
  } finally {
    // A connection still being made (to a host that drops packets) would hold the process for
    // minutes. An open one is unref'd by connect-node when idle, so it is left to the exit:
    // aborting one that failed with a protocol error (--address naming an HTTP/1 port) makes Node
    // emit an 'error' nobody listens to any more, a crash.
    if (session.state() === "connecting") session.abort();
  }
}

interface Target {
  url: URL;
  key: string | undefined;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  /** The host a key would travel to in clear text (plain http:// to anything but loopback). */
  cleartextTo: string | undefined;
}

function targetOf(values: Values, env: NodeJS.ProcessEnv): Target {
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
  const key = adminKey(values["key-file"], env);
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  return {
    url,
    key,
    tls: Object.keys(tls).length > 0 ? tls : undefined,
    cleartextTo: key !== undefined && !https && !loopback ? url.host : undefined,
  };
}

/** --key-file, else HERALD_KEY, else the file HERALD_KEY_FILE names (as the server's secrets); trailing newlines dropped. */
function adminKey(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
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

function readFlagFile(flag: string, path: string, name = `--${flag}`): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${name} ${path}: ${unreadable(err)}`);
  }
}

function createRequest(values: Values) {
  const roles = words(values.role).map((w) => {
    const role = roleByName[w.toLowerCase().replace(/^role_/, "")];
    if (role === undefined) throw new UsageError(`--role: "${w}" is not a role (admin, publish, watch)`);
    return role;
  });
  if (roles.length === 0) throw new UsageError("create needs --role: publish, watch or admin (comma-separated)");
  const appIds = words(values.app);
  if (appIds.length === 0 && !roles.includes(Role.ADMIN)) {
    throw new UsageError("create needs --app: the app ids the key may touch (comma-separated), or '*' for every app");
  }
  let ttlSeconds = 0n;
  if (values.ttl !== undefined) {
    const parsed = parseDuration(values.ttl);
    if (parsed === undefined) throw new UsageError(`--ttl ${values.ttl}: a whole number with a unit, s, m, h, d or w (3600s, 12h, 30d)`);
    ttlSeconds = parsed;
  }
  return { name: values.name ?? "", roles: [...new Set(roles)], appIds: [...new Set(appIds)], ttlSeconds };
}

/** Repeated and comma-separated values alike: `--app a,b --app c`. */
const words = (values: string[] | undefined) =>
  (values ?? [])
    .flatMap((v) => v.split(","))
    .map((w) => w.trim())
    .filter((w) => w !== "");

const roleNames = (roles: readonly Role[]) => roles.map((r) => (Role[r] ?? String(r)).toLowerCase()).join(",");
const iso = (t: Timestamp) =>
  timestampDate(t)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z");

function summary(key: ApiKey): string {
  const expiry = key.expireTime ? `expires ${iso(key.expireTime)}` : "never expires";
  const name = key.name !== "" ? ` "${key.name}"` : "";
  return `key ${key.id}${name} created: roles ${roleNames(key.roles)}; apps ${key.appIds.join(",")}; ${expiry}. The key is shown once (stdout): store it now.`;
}

function table(keys: readonly ApiKey[], now: number): string {
  const rows = keys.map((k) => {
    let expires = "never";
    if (k.expireTime) {
      const at = timestampDate(k.expireTime).getTime();
      expires = `${iso(k.expireTime)}${at <= now ? " (expired)" : ""}`;
    }
    return [k.id, k.name || "-", roleNames(k.roles), k.appIds.join(","), k.createTime ? iso(k.createTime) : "-", expires];
  });
  return formatTable(["ID", "NAME", "ROLES", "APPS", "CREATED", "EXPIRES"], rows);
}

function json<D extends DescMessage>(schema: D, message: MessageShape<D>): string {
  return `${JSON.stringify(toJson(schema, message, { alwaysEmitImplicit: true }), null, 2)}\n`;
}

/** The exit code of a failed call, and its one line: what went wrong, and Herald's reason when it gave one. */
function failure(err: ConnectError, target: Target): { code: number; message: string } {
  const reason = err.metadata.get("herald-reason");
  const detail = `${err.rawMessage}${reason ? ` (${reason})` : ""}`;
  const unreachable = (why: string) => ({ code: KeysExit.unreachable, message: `cannot reach Herald at ${target.url.origin}: ${why}` });
  const broken = connectionFailure(err);
  if (broken !== undefined) return unreachable(broken);
  switch (err.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      // With a reason, Herald itself answered (shutting down, storage unreachable).
      return reason
        ? { code: KeysExit.unreachable, message: `Herald at ${target.url.origin} is unavailable: ${detail}` }
        : unreachable(detail);
    // Nothing here cancels a call: the connection was cut, as a TLS port does to plain HTTP/2.
    case Code.Canceled:
      return unreachable(`${detail}${target.url.protocol === "http:" ? "; does the port want TLS (https://)?" : ""}`);
    case Code.Unauthenticated:
      return {
        code: KeysExit.denied,
        message: `not authenticated: ${detail}${target.key === undefined ? "; give the admin key in HERALD_KEY or --key-file" : ""}`,
      };
    case Code.PermissionDenied:
      return { code: KeysExit.denied, message: `permission denied: ${detail} (key management needs the admin key or an admin API key)` };
    case Code.NotFound:
      return { code: KeysExit.notFound, message: detail };
    case Code.InvalidArgument:
      return { code: KeysExit.usage, message: `refused: ${detail}` };
    default:
      return { code: KeysExit.failed, message: `${Code[err.code] ?? err.code}: ${detail}` };
  }
}

/**
 * Why no answer came, when the call failed on the connection (Node's error as the cause) rather
 * than with a status from a server: connect-node reports some of these as INTERNAL.
 */
function connectionFailure(err: ConnectError): string | undefined {
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
  if (code.startsWith("ERR_HTTP2_")) return `${cause.message.split("\n")[0]}: not an HTTP/2 (gRPC) port?`;
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

function usageFailure(io: KeysIo, message: string): number {
  io.stderr.write(`herald keys: ${message} (herald keys --help)\n`);
  return KeysExit.usage;
}

export function keysUsage(): string {
  return `Usage: herald keys <command> [options]

Manages the API keys of a running Herald over gRPC (RegistryService; admin only).

Commands:
  create --role ROLES --app APPS [--name NAME] [--ttl DURATION] [--json]
                     creates a key: prints the key alone on stdout (it is shown this once) and a
                     summary on stderr, so that KEY=$(herald keys create ...) holds just the key
      --role ROLES   publish, watch and/or admin (comma-separated or repeated)
      --app APPS     app ids the key may touch (comma-separated or repeated), or '*' for every
                     app; an admin key touches every app and needs none
      --name NAME    a label shown by list
      --ttl DURATION lifetime, a whole number with s, m, h, d or w (3600s, 12h, 30d);
                     unset: the key never expires
  list [--json]      every key, newest first: id, name, roles, apps, created, expires (never the
                     keys themselves)
  revoke ID          revokes the key with this id at once, on every instance

Options:
  --address URL      Herald's gRPC port (HERALD_ADDRESS; default ${DEFAULT_ADDRESS}); https:// for TLS
  --ca FILE          with https://: PEM CA file the server's certificate is checked against
                     (default: the system's roots)
  --client-cert FILE with https://: PEM certificate to present to a server that asks for one
                     (--tls-client-ca), with --client-key FILE (its private key)
  --key-file FILE    file holding the admin credential; else the environment variable HERALD_KEY,
                     else the file HERALD_KEY_FILE names (never on the command line)
  --json             print the whole reply as JSON (proto3 JSON mapping) instead
  -h, --help         this text

Exit codes:
  0 done; 1 anything else; 2 usage (bad flags or arguments, or refused as invalid by Herald);
  3 Herald unreachable or unavailable; 4 credential refused (unauthenticated, or not admin);
  5 no such key

Example:
  export HERALD_KEY_FILE=/run/secrets/herald-admin-key
  KEY=$(herald keys create --role publish --app shop --name checkout --ttl 90d)
  herald keys list
  herald keys revoke 0123456789abcdef
`;
}
