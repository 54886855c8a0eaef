import { fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import type { SubscriberRef, SubscriberRefSchema } from "../../core/gen/herald/v1/event_pb.js";
import {
  DeliveryState,
  GetMessageStatusResponseSchema,
  HubService,
  SendEventResponseSchema,
  SendPushResponseSchema,
  type MessageStatus,
  type PushDelivery,
} from "../../core/gen/herald/v1/hub_pb.js";
import { PushChannel } from "../../core/gen/herald/v1/push_pb.js";
import { UsageError } from "../cli-options.js";
import { flag, onlyOptions, positionalsOf, str, strs, type ClientCommand, type Values } from "./client-command.js";
import { CliExit, connectionUsage, EXIT_CODES_USAGE, json, type CliIo } from "./connection.js";
import { formatTable } from "./format-table.js";

/** Options naming subscribers, routing and content, shared by send and push. */
const messageOptions = {
  ksid: { type: "string", multiple: true },
  ufid: { type: "string", multiple: true },
  "device-id": { type: "string", multiple: true },
  "name-pair": { type: "string", multiple: true },
  data: { type: "string" },
  "mime-type": { type: "string" },
  type: { type: "string" },
  "resource-type": { type: "string" },
  "resource-id": { type: "string" },
  "request-id": { type: "string" },
  json: { type: "boolean" },
} as const;

/** `--ksid a --ksid b,c --ufid u`: the subscribers, in the order given per kind. */
function subscribersOf(values: Values): Array<MessageInitShape<typeof SubscriberRefSchema>> {
  const list = (name: string) => strs(values, name).flatMap((v) => v.split(",").filter((w) => w !== ""));
  return [
    ...list("ksid").map((value) => ({ ref: { case: "ksid" as const, value } })),
    ...list("ufid").map((value) => ({ ref: { case: "ufid" as const, value } })),
    ...list("device-id").map((value) => ({ ref: { case: "deviceId" as const, value } })),
  ];
}

function namePairsOf(values: Values) {
  return strs(values, "name-pair").map((pair) => {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--name-pair ${pair}: name=value`);
    return { name: pair.slice(0, at), content: pair.slice(at + 1) };
  });
}

/** The fields send and push share. */
function messageFields(values: Values) {
  const data = str(values, "data");
  return {
    subscribers: subscribersOf(values),
    namePairs: namePairsOf(values),
    ...(data !== undefined ? { content: { mimeType: str(values, "mime-type") ?? "text/plain", data } } : {}),
    type: str(values, "type") ?? "",
    resourceType: str(values, "resource-type") ?? "",
    resourceId: str(values, "resource-id") ?? "",
    requestId: str(values, "request-id") ?? "",
  };
}

const refText = (r: SubscriberRef) => `${r.ref.case === "deviceId" ? "device-id" : (r.ref.case ?? "?")} ${r.ref.value ?? ""}`;

/** What a send answered: `msg MSG_ID offset N`, and the subscribers it refused on stderr. */
function sent(
  io: CliIo,
  reply: { msgId: string; offset: bigint; invalidSubscribers: SubscriberRef[] },
  asJson: string | undefined,
): number {
  if (asJson !== undefined) io.stdout.write(asJson);
  if (reply.msgId === "") {
    io.stderr.write(`herald send: nothing sent: no listed subscriber is valid (${reply.invalidSubscribers.map(refText).join(", ")})\n`);
    return CliExit.notFound;
  }
  if (asJson === undefined) io.stdout.write(`msg ${reply.msgId} offset ${reply.offset}\n`);
  if (reply.invalidSubscribers.length > 0) {
    io.stderr.write(`herald send: not sent to ${reply.invalidSubscribers.map(refText).join(", ")} (no such subscriber)\n`);
  }
  return CliExit.ok;
}

/** `herald send EVENT_ID`: SendEvent. */
export const sendCommand: ClientCommand = {
  name: "send",
  options: { ...messageOptions, app: { type: "string" }, payload: { type: "string" } },
  usage: sendUsage,
  prepare(values, positionals) {
    const [eventId] = positionalsOf(positionals, ["EVENT_ID"], "send") as [string];
    const payloadText = str(values, "payload");
    let payload;
    if (payloadText !== undefined) {
      try {
        payload = fromJson(ValueSchema, JSON.parse(payloadText));
      } catch (err) {
        throw new UsageError(`--payload: not JSON (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const request = { ...messageFields(values), appId: str(values, "app") ?? "", eventId, ...(payload ? { payload } : {}) };
    return async ({ connection, io }) => {
      const reply = await createClient(HubService, connection.transport).sendEvent(request, connection.call);
      return sent(io, reply, flag(values, "json") ? json(SendEventResponseSchema, reply) : undefined);
    };
  },
};

/** `herald push APP`: SendPush. */
export const pushCommand: ClientCommand = {
  name: "push",
  options: { ...messageOptions, "all-active": { type: "boolean" }, "os-type": { type: "string" } },
  usage: pushUsage,
  prepare(values, positionals) {
    const [appId] = positionalsOf(positionals, ["APP"], "push") as [string];
    const fields = messageFields(values);
    const allActive = flag(values, "all-active");
    if (allActive === fields.subscribers.length > 0) {
      throw new UsageError("push goes to listed subscribers (--ksid, --ufid, --device-id) or to --all-active: one of them");
    }
    if (str(values, "os-type") !== undefined && !allActive) throw new UsageError("--os-type goes with --all-active");
    if (str(values, "data") === undefined) throw new UsageError("push needs --data TEXT");
    const request = { ...fields, appId, allActive, osType: str(values, "os-type") ?? "" };
    return async ({ connection, io }) => {
      const reply = await createClient(HubService, connection.transport).sendPush(request, connection.call);
      return sent(io, reply, flag(values, "json") ? json(SendPushResponseSchema, reply) : undefined);
    };
  },
};

/** `herald status REQUEST_ID`: GetMessageStatus. */
export const statusCommand: ClientCommand = {
  name: "status",
  options: { json: { type: "boolean" } },
  usage: statusUsage,
  prepare(values, positionals) {
    onlyOptions(values, ["json"], "status");
    const [requestId] = positionalsOf(positionals, ["REQUEST_ID"], "status") as [string];
    return async ({ connection, io }) => {
      const reply = await createClient(HubService, connection.transport).getMessageStatus({ requestId }, connection.call);
      io.stdout.write(flag(values, "json") ? json(GetMessageStatusResponseSchema, reply) : statusTable(reply.messages));
      return CliExit.ok;
    };
  },
};

const stateNames: Record<number, string> = {
  [DeliveryState.QUEUED]: "queued",
  [DeliveryState.DELIVERED]: "delivered",
  [DeliveryState.FAILED]: "failed",
  [DeliveryState.EXPIRED]: "expired",
};
const channelNames: Record<number, string> = { [PushChannel.APNS]: "apns", [PushChannel.FCM]: "fcm", [PushChannel.WEB_PUSH]: "web-push" };

/** A subscriber's device pushes: `apns delivered`, `fcm failed (UNREGISTERED)`, or `-`. */
function devicePushes(pushes: readonly PushDelivery[]): string {
  if (pushes.length === 0) return "-";
  return pushes
    .map(
      (p) =>
        `${channelNames[p.channel] ?? String(p.channel)} ${stateNames[p.state] ?? String(p.state)}${p.reason === "" ? "" : ` (${p.reason})`}`,
    )
    .join(", ");
}
const ms = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).toISOString() : "-");

/**
 * One row per message and subscriber; a message with none (a broadcast nobody received yet) gets
 * one row of its own. STATE and DELIVERED are the live watchers'; DEVICE the push to the device.
 */
export function statusTable(messages: readonly MessageStatus[]): string {
  const rows = messages.flatMap((m) => {
    const head = [m.msgId, m.appId, ms(m.time), m.broadcast ? "yes" : "no"];
    if (m.subscribers.length === 0) return [[...head, "-", "-", "-", "-"]];
    return m.subscribers.map((s) => [...head, s.ksid, stateNames[s.state] ?? String(s.state), ms(s.deliveredTime), devicePushes(s.pushes)]);
  });
  return formatTable(["MSG", "APP", "TIME", "BROADCAST", "KSID", "STATE", "DELIVERED", "DEVICE"], rows);
}

const messageUsage = `  --ksid KSID            a subscriber to send to (repeated or comma-separated); also
  --ufid UFID            every active device of a user, and
  --device-id ID         a device
  --name-pair NAME=VALUE fills {{NAME}} in the event's message template (repeated)
  --data TEXT            the message body (content.data)
  --mime-type TYPE       of --data (default text/plain)
  --type, --resource-type, --resource-id VALUE
                         routing attributes (what watchers filter on)
  --request-id ID        groups messages for "herald status ID" (default: the msg id)
  --json                 print the whole reply as JSON (proto3 JSON mapping)`;

function sendUsage(): string {
  return `Usage: herald send EVENT_ID [options]

Publishes the registered event EVENT_ID (HubService.SendEvent) and prints "msg MSG_ID offset N".
Without subscribers it goes to every subscriber of the app; without --data, the content is the
event's message template filled from the name pairs. Subscribers Herald does not know are named on
stderr; when none of those listed is valid nothing is sent (exit 5).

Options:
  --app APP              the event's app (default: the app it is registered under)
${messageUsage}
  --payload JSON         arbitrary JSON carried with the event

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald send 1 --ksid xxxx --name-pair lastname=Smith
`;
}

function pushUsage(): string {
  return `Usage: herald push APP (--ksid KSID ... | --all-active [--os-type OS]) --data TEXT [options]

Publishes an ad-hoc push to subscribers of app APP (HubService.SendPush) and prints
"msg MSG_ID offset N".

Options:
  --all-active           every active subscriber of the app (instead of a list)
  --os-type OS           with --all-active: only subscribers of this os type (e.g. androidgcm)
${messageUsage}

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald push demo --all-active --data 'Maintenance at 22:00'
`;
}

function statusUsage(): string {
  return `Usage: herald status REQUEST_ID [--json]

Who the messages sent under REQUEST_ID (a request id, or the msg id of a message sent without one)
targeted and whether a live watcher of each subscriber received them (HubService.GetMessageStatus):
one row per message and subscriber. Kept for --message-status-ttl-ms (default 24 h); exit 5 after
that or for an id never issued.

Options:
  --json                 print the whole reply as JSON (proto3 JSON mapping)

${connectionUsage()}
${EXIT_CODES_USAGE}`;
}
