import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient } from "@connectrpc/connect";
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
import {
  CliExit,
  cleartextWarning,
  connectionOptions as connectionFlags,
  connectionUsage,
  failure,
  iso,
  json,
  openConnection,
  targetOf,
  words,
  type CliIo,
  type Target,
} from "./connection.js";

const options = {
  ...connectionFlags,
  role: { type: "string", multiple: true },
  app: { type: "string", multiple: true },
  name: { type: "string" },
  ttl: { type: "string" },
  json: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

/** The options each command takes besides the connection's. */
const commandOptions: Record<string, ReadonlyArray<keyof Values>> = {
  create: ["role", "app", "name", "ttl", "json"],
  list: ["json"],
  revoke: [],
};
const connectionOptions = Object.keys(connectionFlags) as ReadonlyArray<keyof Values>;

const roleByName: Record<string, Role> = { admin: Role.ADMIN, publish: Role.PUBLISH, watch: Role.WATCH };

/**
 * `herald keys create|list|revoke`: API key management against a running Herald over gRPC
 * (RegistryService, admin only). The admin credential comes from the environment or a file, never
 * argv (argv shows in `ps` and shell history). Returns the exit code; every failure is one line on
 * stderr.
 */
export async function runKeysCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo = process): Promise<number> {
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
    return CliExit.ok;
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

  const connection = openConnection(target);
  const client = createClient(RegistryService, connection.transport);
  const { call } = connection;
  const warning = cleartextWarning(target);
  if (warning) io.stderr.write(`herald keys: ${warning}\n`);
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
    return CliExit.ok;
  } catch (err) {
    const { code, message } = failure(ConnectError.from(err), target, {
      denied: "key management needs the admin key or an admin API key",
      credential: "the admin key",
    });
    io.stderr.write(`herald keys: ${message}\n`);
    return code;
  } finally {
    connection.close();
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

const roleNames = (roles: readonly Role[]) => roles.map((r) => (Role[r] ?? String(r)).toLowerCase()).join(",");
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

function usageFailure(io: CliIo, message: string): number {
  io.stderr.write(`herald keys: ${message} (herald keys --help)\n`);
  return CliExit.usage;
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
  --json             print the whole reply as JSON (proto3 JSON mapping) instead

${connectionUsage("the admin credential")}
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
