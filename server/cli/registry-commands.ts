import { create, fromJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { parse } from "yaml";
import {
  AppSchema,
  EventDefinitionSchema,
  ListAppsResponseSchema,
  ListEventHandlersResponseSchema,
  ListEventsResponseSchema,
  ListSubscribersResponseSchema,
  RegistryService,
  SubscriberSchema,
  type App,
  type EventDefinition,
  type Subscriber,
} from "../../core/gen/herald/v1/registry_pb.js";
import type { EventHandler } from "../../core/gen/herald/v1/handler_pb.js";
import {
  ApnsProviderSchema,
  FcmProviderSchema,
  GetPushProvidersResponseSchema,
  PushChannel,
  WebPushProviderSchema,
  type PushProvider,
} from "../../core/gen/herald/v1/push_pb.js";
import { UsageError } from "../cli-options.js";
import {
  type Action,
  type ClientCommand,
  type CommandContext,
  flag,
  onlyOptions,
  positionalsOf,
  str,
  strs,
  type Values,
} from "./client-command.js";
import { CliExit, connectionUsage, EXIT_CODES_USAGE, iso, json, readFlagFile, words } from "./connection.js";
import { formatTable } from "./format-table.js";

type Registry = Client<typeof RegistryService>;

/** One verb of a registry command: its arguments, its options, and what it does once connected. */
interface Verb {
  args: readonly string[];
  options: readonly string[];
  run(values: Values, args: string[]): (registry: Registry, ctx: CommandContext) => Promise<number | undefined>;
}

/** `herald <name> <verb> …` over RegistryService. */
function registryCommand(name: string, options: ClientCommand["options"], verbs: Record<string, Verb>, usage: () => string): ClientCommand {
  const verbNames = Object.keys(verbs).join(", ");
  return {
    name,
    options,
    usage,
    verbs: true,
    prepare(values, positionals): Action {
      const [verbName, ...args] = positionals;
      if (verbName === undefined) throw new UsageError(`a command is required: ${verbNames}`);
      const verb = verbs[verbName];
      if (!verb) throw new UsageError(`unknown command "${verbName}": ${verbNames}`);
      const what = `${name} ${verbName}`;
      onlyOptions(values, verb.options, what);
      // put --file takes no other argument: everything is in the file.
      const fromFile = verbName === "put" && str(values, "file") !== undefined;
      if (fromFile) {
        const others = Object.entries(values).filter(
          ([k, v]) => v !== undefined && verb.options.includes(k) && k !== "file" && k !== "json",
        );
        if (others.length > 0 || args.length > 0)
          throw new UsageError(`put --file takes everything from the file: no --${others[0]?.[0] ?? "argument"}`);
      } else {
        positionalsOf(args, verb.args, what);
      }
      const run = verb.run(values, args);
      return (ctx) => run(createClient(RegistryService, ctx.connection.transport), ctx);
    },
  };
}

/**
 * The entries of a `--file` (YAML or JSON, the proto's field names): one object, a list of them,
 * or a seed file's section (`apps:`, `events:`, `subscribers:`).
 */
function fromFile<D extends DescMessage>(path: string, schema: D, section: string): Array<MessageShape<D>> {
  let doc: unknown;
  try {
    doc = parse(readFlagFile("file", path).toString("utf8"));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--file ${path}: not YAML or JSON (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`);
  }
  const sectioned = doc !== null && typeof doc === "object" && !Array.isArray(doc) && section in doc;
  const entries = sectioned ? (doc as Record<string, unknown>)[section] : doc;
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0 || list.some((e) => e === null || typeof e !== "object" || Array.isArray(e))) {
    throw new UsageError(`--file ${path}: expected an object, a list of objects, or "${section}:" with a list`);
  }
  return list.map((entry, i) => {
    try {
      // Unknown fields are refused: a misspelt field would otherwise be dropped without a word.
      return fromJson(schema, entry as JsonValue);
    } catch (err) {
      const where = Array.isArray(entries) ? `${sectioned ? section : ""}[${i}]` : sectioned ? section : "";
      throw new UsageError(`--file ${path}${where ? ` ${where}` : ""}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

const yesNo = (b: boolean) => (b ? "yes" : "no");
const dash = (s: string) => s || "-";
const saved = (ctx: CommandContext, what: string) => ctx.io.stderr.write(`${what} saved\n`);

// ---- apps ----------------------------------------------------------------------------------

function appFromFlags(values: Values, id: string): App {
  const keyFile = str(values, "legacy-key-file");
  const key =
    keyFile !== undefined
      ? readFlagFile("legacy-key-file", keyFile)
          .toString("utf8")
          .replace(/[\r\n]+$/, "")
      : "";
  if (keyFile !== undefined && key === "") throw new UsageError(`--legacy-key-file ${keyFile} is empty`);
  if (keyFile !== undefined && flag(values, "clear-legacy-key")) throw new UsageError("--legacy-key-file or --clear-legacy-key, not both");
  return fromJson(AppSchema, {
    id,
    name: str(values, "name") ?? "",
    published: flag(values, "published"),
    legacy: {
      key,
      networks: words(strs(values, "network")),
      xmsBasic: flag(values, "xms-basic"),
      clearKey: flag(values, "clear-legacy-key"),
    },
  });
}

export const appsCommand = registryCommand(
  "apps",
  {
    json: { type: "boolean" },
    file: { type: "string" },
    name: { type: "string" },
    published: { type: "boolean" },
    network: { type: "string", multiple: true },
    "xms-basic": { type: "boolean" },
    "legacy-key-file": { type: "string" },
    "clear-legacy-key": { type: "boolean" },
  },
  {
    list: {
      args: [],
      options: ["json"],
      run:
        (values) =>
        async (registry, { connection, io }) => {
          const reply = await registry.listApps({}, connection.call);
          io.stdout.write(flag(values, "json") ? json(ListAppsResponseSchema, reply) : appsTable(reply.apps));
          return CliExit.ok;
        },
    },
    put: {
      args: ["ID"],
      options: ["json", "file", "name", "published", "network", "xms-basic", "legacy-key-file", "clear-legacy-key"],
      run: (values, args) => {
        const file = str(values, "file");
        const apps = file !== undefined ? fromFile(file, AppSchema, "apps") : [appFromFlags(values, args[0] as string)];
        return async (registry, ctx) => {
          const stored = [];
          for (const app of apps) {
            const reply = await registry.upsertApp({ app }, ctx.connection.call);
            if (reply.app) stored.push(reply.app);
            saved(ctx, `app ${app.id}`);
          }
          if (flag(values, "json")) ctx.io.stdout.write(json(ListAppsResponseSchema, create(ListAppsResponseSchema, { apps: stored })));
          return CliExit.ok;
        };
      },
    },
    delete: {
      args: ["ID"],
      options: [],
      run:
        (_values, [id]) =>
        async (registry, { connection, io }) => {
          await registry.deleteApp({ id: id as string }, connection.call);
          io.stderr.write(`app ${id} deleted, with its events and subscribers\n`);
          return CliExit.ok;
        },
    },
  },
  appsUsage,
);

function appsTable(apps: readonly App[]): string {
  const rows = apps.map((a) => [
    a.id,
    dash(a.name),
    yesNo(a.published),
    yesNo(a.legacy?.hasKey ?? false),
    dash(a.legacy?.networks.join(",") ?? ""),
    yesNo(a.legacy?.xmsBasic ?? false),
  ]);
  return formatTable(["ID", "NAME", "PUBLISHED", "LEGACY_KEY", "OPEN_NETWORKS", "XMS_BASIC"], rows);
}

// ---- events --------------------------------------------------------------------------------

export const eventsCommand = registryCommand(
  "events",
  {
    json: { type: "boolean" },
    file: { type: "string" },
    app: { type: "string" },
    name: { type: "string" },
    published: { type: "boolean" },
    message: { type: "string" },
  },
  {
    list: {
      args: ["APP"],
      options: ["json"],
      run:
        (values, [appId]) =>
        async (registry, { connection, io }) => {
          const reply = await registry.listEvents({ appId: appId as string }, connection.call);
          io.stdout.write(flag(values, "json") ? json(ListEventsResponseSchema, reply) : eventsTable(reply.events));
          return CliExit.ok;
        },
    },
    put: {
      args: ["ID"],
      options: ["json", "file", "app", "name", "published", "message"],
      run: (values, args) => {
        const file = str(values, "file");
        let events: EventDefinition[];
        if (file !== undefined) {
          events = fromFile(file, EventDefinitionSchema, "events");
        } else {
          const appId = str(values, "app");
          if (appId === undefined) throw new UsageError("events put needs --app APP");
          events = [
            fromJson(EventDefinitionSchema, {
              id: args[0] as string,
              appId,
              name: str(values, "name") ?? "",
              published: flag(values, "published"),
              message: str(values, "message") ?? "",
            }),
          ];
        }
        return async (registry, ctx) => {
          const stored = [];
          for (const event of events) {
            const reply = await registry.upsertEvent({ event }, ctx.connection.call);
            if (reply.event) stored.push(reply.event);
            saved(ctx, `event ${event.id}`);
          }
          if (flag(values, "json")) {
            ctx.io.stdout.write(json(ListEventsResponseSchema, create(ListEventsResponseSchema, { events: stored })));
          }
          return CliExit.ok;
        };
      },
    },
    delete: {
      args: ["ID"],
      options: [],
      run:
        (_values, [id]) =>
        async (registry, { connection, io }) => {
          await registry.deleteEvent({ id: id as string }, connection.call);
          io.stderr.write(`event ${id} deleted\n`);
          return CliExit.ok;
        },
    },
  },
  eventsUsage,
);

function eventsTable(events: readonly EventDefinition[]): string {
  const rows = events.map((e) => [e.id, e.appId, dash(e.name), yesNo(e.published), dash(JSON.stringify(e.message).slice(1, -1))]);
  return formatTable(["ID", "APP", "NAME", "PUBLISHED", "MESSAGE"], rows);
}

// ---- subscribers ---------------------------------------------------------------------------

export const subscribersCommand = registryCommand(
  "subscribers",
  {
    json: { type: "boolean" },
    file: { type: "string" },
    "device-id": { type: "string" },
    ufid: { type: "string" },
    "os-type": { type: "string" },
    sid: { type: "string" },
  },
  {
    list: {
      args: ["APP"],
      options: ["json"],
      run:
        (values, [appId]) =>
        async (registry, { connection, io }) => {
          const reply = await registry.listSubscribers({ appId: appId as string }, connection.call);
          io.stdout.write(flag(values, "json") ? json(ListSubscribersResponseSchema, reply) : subscribersTable(reply.subscribers));
          return CliExit.ok;
        },
    },
    put: {
      args: ["APP"],
      options: ["json", "file", "device-id", "ufid", "os-type", "sid"],
      run: (values, args) => {
        const file = str(values, "file");
        // A file's entries are Subscribers (a seed's section): their ksid, if any, is Herald's to assign.
        const subscribers: Array<Pick<Subscriber, "appId" | "deviceId" | "ufid" | "osType" | "sid">> =
          file !== undefined
            ? fromFile(file, SubscriberSchema, "subscribers")
            : [
                {
                  appId: args[0] as string,
                  deviceId: str(values, "device-id") ?? "",
                  ufid: str(values, "ufid") ?? "",
                  osType: str(values, "os-type") ?? "",
                  sid: str(values, "sid") ?? "",
                },
              ];
        return async (registry, { connection, io }) => {
          const ksids = [];
          for (const { appId, deviceId, ufid, osType, sid } of subscribers) {
            const reply = await registry.subscribe({ appId, deviceId, ufid, osType, sid }, connection.call);
            ksids.push(reply.ksid);
            // The ksid alone on stdout, so that KSID=$(herald subscribers put …) holds just it.
            if (!flag(values, "json")) io.stdout.write(`${reply.ksid}\n`);
          }
          if (flag(values, "json")) io.stdout.write(`${JSON.stringify({ ksids }, null, 2)}\n`);
          return CliExit.ok;
        };
      },
    },
    delete: {
      args: ["KSID"],
      options: [],
      run:
        (_values, [ksid]) =>
        async (registry, { connection, io }) => {
          await registry.unsubscribe({ ksid: ksid as string }, connection.call);
          io.stderr.write(`subscriber ${ksid} unsubscribed\n`);
          return CliExit.ok;
        },
    },
  },
  subscribersUsage,
);

function subscribersTable(subscribers: readonly Subscriber[]): string {
  const rows = subscribers.map((s) => [s.ksid, dash(s.deviceId), dash(s.ufid), dash(s.osType), dash(s.sid), yesNo(s.active)]);
  return formatTable(["KSID", "DEVICE", "UFID", "OS", "SID", "ACTIVE"], rows);
}

// ---- handlers ------------------------------------------------------------------------------

export const handlersCommand = registryCommand(
  "handlers",
  { json: { type: "boolean" } },
  {
    list: {
      args: ["APP"],
      options: ["json"],
      run:
        (values, [appId]) =>
        async (registry, { connection, io }) => {
          const reply = await registry.listEventHandlers({ appId: appId as string }, connection.call);
          io.stdout.write(flag(values, "json") ? json(ListEventHandlersResponseSchema, reply) : handlersTable(reply.handlers));
          return CliExit.ok;
        },
    },
  },
  handlersUsage,
);

function handlersTable(handlers: readonly EventHandler[]): string {
  const any = (s: string) => s || "any";
  const rows = handlers.map((h) => [
    h.id,
    String(h.revision),
    h.created ? iso(h.created) : "-",
    h.subscriptions.map((s) => `${any(s.type)}/${any(s.resourceType)}/${any(s.resourceId)}`).join(" ") || "-",
  ]);
  return formatTable(["ID", "REVISION", "CREATED", "SUBSCRIPTIONS (type/resource_type/resource_id)"], rows);
}

/** The channels as the command names them. */
const CHANNEL_ARGS: Record<string, PushChannel> = { apns: PushChannel.APNS, fcm: PushChannel.FCM, "web-push": PushChannel.WEB_PUSH };

function channelArg(value: string | undefined): PushChannel {
  const channel = CHANNEL_ARGS[value ?? ""];
  if (channel === undefined) throw new UsageError(`CHANNEL must be one of ${Object.keys(CHANNEL_ARGS).join(", ")}, not "${value}"`);
  return channel;
}

/** What SetPushProvider gets from the flags: key material from files, never from argv. */
function providerFromFlags(channel: PushChannel, values: Values): PushProvider["config"] {
  const keyFile = str(values, "private-key-file");
  const key = keyFile === undefined ? "" : readFlagFile("private-key-file", keyFile).toString("utf8");
  switch (channel) {
    case PushChannel.APNS:
      return {
        case: "apns",
        value: create(ApnsProviderSchema, {
          teamId: str(values, "team-id") ?? "",
          keyId: str(values, "key-id") ?? "",
          topic: str(values, "topic") ?? "",
          sandbox: flag(values, "sandbox"),
          privateKey: key,
        }),
      };
    case PushChannel.FCM: {
      const file = str(values, "service-account-file");
      if (file === undefined) throw new UsageError("providers put APP fcm needs --service-account-file");
      let account: { project_id?: unknown; client_email?: unknown; private_key?: unknown };
      try {
        account = JSON.parse(readFlagFile("service-account-file", file).toString("utf8")) as typeof account;
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`--service-account-file ${file}: not JSON`);
      }
      const text = (v: unknown) => (typeof v === "string" ? v : "");
      return {
        case: "fcm",
        value: create(FcmProviderSchema, {
          projectId: text(account.project_id),
          clientEmail: text(account.client_email),
          privateKey: text(account.private_key),
        }),
      };
    }
    default:
      return {
        case: "webPush",
        value: create(WebPushProviderSchema, {
          subject: str(values, "subject") ?? "",
          publicKey: str(values, "public-key") ?? "",
          privateKey: key.trim(),
        }),
      };
  }
}

function providersTable(providers: readonly PushProvider[]): string {
  const rows = providers.map((p) => {
    const c = p.config;
    switch (c.case) {
      case "apns":
        return [
          "apns",
          `team ${c.value.teamId}, key ${c.value.keyId}, topic ${c.value.topic}${c.value.sandbox ? ", sandbox" : ""}`,
          yes(c.value.hasPrivateKey),
        ];
      case "fcm":
        return ["fcm", `project ${c.value.projectId}, ${c.value.clientEmail}`, yes(c.value.hasPrivateKey)];
      case "webPush":
        return ["web-push", `${c.value.subject}, public key ${c.value.publicKey}`, yes(c.value.hasPrivateKey)];
      default:
        return ["-", "-", "-"];
    }
  });
  return formatTable(["CHANNEL", "CREDENTIALS", "PRIVATE_KEY"], rows);
}
const yes = (b: boolean) => (b ? "set" : "no");

export const providersCommand = registryCommand(
  "providers",
  {
    json: { type: "boolean" },
    "team-id": { type: "string" },
    "key-id": { type: "string" },
    topic: { type: "string" },
    sandbox: { type: "boolean" },
    "private-key-file": { type: "string" },
    "service-account-file": { type: "string" },
    subject: { type: "string" },
    "public-key": { type: "string" },
  },
  {
    list: {
      args: ["APP"],
      options: ["json"],
      run:
        (values, [appId]) =>
        async (registry, { connection, io }) => {
          const reply = await registry.getPushProviders({ appId: appId as string }, connection.call);
          io.stdout.write(flag(values, "json") ? json(GetPushProvidersResponseSchema, reply) : providersTable(reply.providers));
          return CliExit.ok;
        },
    },
    put: {
      args: ["APP", "CHANNEL"],
      options: ["json", "team-id", "key-id", "topic", "sandbox", "private-key-file", "service-account-file", "subject", "public-key"],
      run: (values, [appId, channelName]) => {
        const config = providerFromFlags(channelArg(channelName), values);
        return async (registry, { connection, io }) => {
          const reply = await registry.setPushProvider({ provider: { appId: appId as string, config } }, connection.call);
          io.stdout.write(
            flag(values, "json")
              ? json(
                  GetPushProvidersResponseSchema,
                  create(GetPushProvidersResponseSchema, { providers: reply.provider ? [reply.provider] : [] }),
                )
              : providersTable(reply.provider ? [reply.provider] : []),
          );
          return CliExit.ok;
        };
      },
    },
    delete: {
      args: ["APP", "CHANNEL"],
      options: [],
      run: (_values, [appId, channelName]) => {
        const channel = channelArg(channelName);
        return async (registry, { connection, io }) => {
          await registry.clearPushProvider({ appId: appId as string, channel }, connection.call);
          io.stderr.write(`${channelName} push provider of app ${appId} deleted\n`);
          return CliExit.ok;
        };
      },
    },
  },
  providersUsage,
);

// ---- help ----------------------------------------------------------------------------------

const fileHelp = (section: string) => `  --file FILE        YAML or JSON with the proto's field names: one object, a list, or a seed
                     file's "${section}:" section (e.g. examples/seed.yaml)`;

function appsUsage(): string {
  return `Usage: herald apps list|put|delete [options]

Manages the apps of a running Herald over gRPC (RegistryService).

Commands:
  list [--json]      every app: id, name, published, legacy key set, open networks, XMS Basic
  put ID [--name NAME] [--published] [--network CIDR ...] [--xms-basic]
         [--legacy-key-file FILE | --clear-legacy-key]
                     creates or replaces app ID (a flag not given is empty or off; the app's
                     legacy key is kept unless a new one or --clear-legacy-key is given)
  put --file FILE    the same, for every app in the file
${fileHelp("apps")}
  delete ID          deletes app ID with its events and subscribers

  --json             print the reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald apps put shop --name Shop --published
  herald apps list
`;
}

function eventsUsage(): string {
  return `Usage: herald events list|put|delete [options]

Manages the registered events of a running Herald over gRPC (RegistryService).

Commands:
  list APP [--json]  the events of app APP: id, app, name, published, message template
  put ID --app APP [--name NAME] [--published] [--message TEMPLATE]
                     creates or replaces event ID of app APP; {{name}} in TEMPLATE is filled from
                     the name pairs of a send
  put --file FILE    the same, for every event in the file
${fileHelp("events")}
  delete ID          deletes event ID

  --json             print the reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald events put 7 --app shop --name Shipped --published --message 'Order {{order}} shipped'
`;
}

function subscribersUsage(): string {
  return `Usage: herald subscribers list|put|delete [options]

Manages the subscribers (devices) of an app of a running Herald over gRPC (RegistryService).

Commands:
  list APP [--json]  the subscribers of app APP: ksid, device, ufid, os type, sid, active
  put APP --device-id ID --ufid UFID --os-type OS [--sid SID]
                     subscribes a device (RegistryService.Subscribe) and prints its ksid alone on
                     stdout; the same app, device id and ufid get the same ksid
  put --file FILE    the same, for every subscriber in the file (a ksid there is ignored)
${fileHelp("subscribers")}
  delete KSID        unsubscribes the device (RegistryService.Unsubscribe)

  --json             print the reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  KSID=$(herald subscribers put demo --device-id d-42 --ufid bob@example.com --os-type androidgcm)
`;
}

function providersUsage(): string {
  return `Usage: herald providers list|put|delete APP [CHANNEL] [options]

Manages the push providers of an app of a running Herald over gRPC (RegistryService): how it
reaches APNs, FCM and Web Push. Private keys are read from files and never printed.

Commands:
  list APP [--json]  the app's providers: channel, credentials, whether a private key is set
  put APP apns --team-id TEAM --key-id KEY --topic BUNDLE_ID --private-key-file AuthKey.p8 [--sandbox]
  put APP fcm --service-account-file SERVICE_ACCOUNT.json
  put APP web-push --subject mailto:OPS --public-key VAPID_PUBLIC --private-key-file VAPID_PRIVATE
                     sets the app's provider of that channel (without --private-key-file, or with a
                     service account without private_key, the stored key is kept)
  delete APP CHANNEL removes the app's provider of CHANNEL (apns, fcm, web-push)

  --json             print the reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald providers put shop apns --team-id ABCDE12345 --key-id KEY1234567 --topic com.example.shop --private-key-file AuthKey.p8
`;
}

function handlersUsage(): string {
  return `Usage: herald handlers list APP [--json]

Lists the event handlers (XMS eventhandlers) of app APP on a running Herald over gRPC
(RegistryService.ListEventHandlers), in creation order: id, revision, created, subscriptions.
"herald watch APP --handler ID" streams what one of them subscribes to.

  --json             print the reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}`;
}
