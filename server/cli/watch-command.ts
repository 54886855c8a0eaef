import { toJson } from "@bufbuild/protobuf";
import { timestampDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { EventKind, EventSchema, type Event } from "../../core/gen/herald/v1/event_pb.js";
import { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import { ErrorInfoSchema } from "../../core/gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN, RESUME_TRAILER } from "../../core/rpc/errors.js";
import { UsageError } from "../cli-options.js";
import { flag, positionalsOf, str, type ClientCommand } from "./client-command.js";
import { CALL_TIMEOUT_MS, CliExit, connectionUsage, EXIT_CODES_USAGE, failure } from "./connection.js";

/** Longest content shown on an event's line (the rest is elided; --json has it all). */
const SHOWN_DATA = 80;

/**
 * `herald watch APP`: WatchEvents in the terminal, one line per event, until interrupted (exit 0)
 * or until the stream ends with an error, when the offset to resume from goes to stderr.
 */
export const watchCommand: ClientCommand = {
  name: "watch",
  watching: true,
  options: {
    type: { type: "string" },
    "resource-type": { type: "string" },
    "resource-id": { type: "string" },
    ksid: { type: "string" },
    handler: { type: "string" },
    "resume-after": { type: "string" },
    json: { type: "boolean" },
  },
  usage: watchUsage,
  prepare(values, positionals) {
    const [appId] = positionalsOf(positionals, ["APP"], "watch") as [string];
    const resume = str(values, "resume-after");
    if (resume !== undefined && !/^\d{1,20}$/.test(resume)) throw new UsageError(`--resume-after ${resume}: an offset (a whole number)`);
    const request = {
      appId,
      type: str(values, "type") ?? "",
      resourceType: str(values, "resource-type") ?? "",
      resourceId: str(values, "resource-id") ?? "",
      ksid: str(values, "ksid") ?? "",
      handlerId: str(values, "handler") ?? "",
      ...(resume !== undefined ? { resumeAfter: BigInt(resume) } : {}),
    };
    const asJson = flag(values, "json");
    return async ({ connection, target, io }) => {
      const client = createClient(HubService, connection.transport);
      const stop = new AbortController();
      const interrupted = () => stop.abort();
      process.once("SIGINT", interrupted);
      process.once("SIGTERM", interrupted);
      // `herald watch … | head`: the reader left; nothing more to do.
      const stdout = io.stdout as Partial<NodeJS.WriteStream>;
      const closed = (err: NodeJS.ErrnoException) => {
        if (err.code === "EPIPE") stop.abort();
      };
      stdout.on?.("error", closed);
      const cleanUp = () => {
        process.off("SIGINT", interrupted);
        process.off("SIGTERM", interrupted);
        stdout.off?.("error", closed);
      };
      // A stream has no answer before its first event: make sure the connection is there at all.
      let timer: NodeJS.Timeout | undefined;
      const connected = await Promise.race([
        connection.connect(),
        new Promise<"timeout">((resolve) => (timer = setTimeout(resolve, CALL_TIMEOUT_MS, "timeout"))),
        new Promise<"stopped">((resolve) => stop.signal.addEventListener("abort", () => resolve("stopped"))),
      ]);
      clearTimeout(timer);
      if (connected === "stopped") {
        cleanUp();
        return CliExit.ok;
      }
      if (connected === "timeout") {
        cleanUp();
        throw new ConnectError(`no connection within ${CALL_TIMEOUT_MS / 1000}s`, Code.DeadlineExceeded);
      }
      // The offset of the last event printed: where to resume when Herald said nothing (gone at once).
      let last: bigint | undefined;
      try {
        for await (const { event } of client.watchEvents(request, { ...connection.stream, signal: stop.signal })) {
          if (!event) continue;
          last = event.offset;
          io.stdout.write(asJson ? `${JSON.stringify(toJson(EventSchema, event))}\n` : eventLine(event));
        }
        io.stderr.write("herald watch: the stream ended (its event handler was deleted)\n");
        return CliExit.ok;
      } catch (err) {
        if (stop.signal.aborted) return CliExit.ok;
        const e = ConnectError.from(err);
        const { code, message } = failure(e, target, { connected: connected !== "error" });
        io.stderr.write(`herald watch: ${message}\n`);
        const from = resumeOffset(e) ?? last;
        // Not after a refusal (bad request, credential, unknown app, offset out of history): resuming would fail the same way.
        if (from !== undefined && (code === CliExit.unreachable || code === CliExit.failed)) {
          io.stderr.write(`herald watch: resume with --resume-after ${from}\n`);
        }
        return code;
      } finally {
        cleanUp();
      }
    };
  },
};

/** The offset Herald said to resume after (SLOW_CONSUMER, SHUTTING_DOWN, UNAVAILABLE): trailer, else ErrorInfo. */
export function resumeOffset(err: ConnectError): bigint | undefined {
  let text = err.metadata.get(RESUME_TRAILER) ?? undefined;
  for (const info of err.findDetails(ErrorInfoSchema)) {
    if (info.domain === ERROR_DOMAIN) text ??= info.metadata["resume_after"];
  }
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : undefined;
}

const kinds: Record<number, string> = { [EventKind.EVENT]: "event", [EventKind.PUSH]: "push", [EventKind.HANDLER]: "handler" };

/** `OFFSET  TIME  KIND  ID  [routing]  -> TARGETS  "data"`: one line, whatever the content holds. */
export function eventLine(event: Event): string {
  const time = event.time ? timestampDate(event.time).toISOString() : "-";
  const routing = [
    event.type && `type=${event.type}`,
    event.resourceType && `resource_type=${event.resourceType}`,
    event.resourceId && `resource_id=${event.resourceId}`,
  ].filter(Boolean);
  const targets = event.targets.length > 0 ? event.targets.join(",") : event.osType ? `all ${event.osType}` : "all";
  let data = event.content?.data ?? "";
  if (data === "" && event.payload !== undefined) data = JSON.stringify(toJson(ValueSchema, event.payload));
  const shown = data.length > SHOWN_DATA ? `${data.slice(0, SHOWN_DATA - 1)}…` : data;
  const cells = [
    String(event.offset),
    time,
    kinds[event.kind] ?? String(event.kind),
    event.eventId || "-",
    ...routing,
    `-> ${targets}`,
    // JSON's quoting: a newline or control character in the data cannot break the line.
    JSON.stringify(shown),
  ];
  return `${cells.join("  ")}\n`;
}

function watchUsage(): string {
  return `Usage: herald watch APP [options]

Streams the events of app APP from a running Herald (HubService.WatchEvents), live, one line each:
offset, time, kind, event id, routing, targets and the content shortened. Ctrl-C ends it (exit 0).
When Herald ends the stream (shutting down, a watcher too slow, connection lost) it prints why and
the offset to continue from ("resume with --resume-after N") on stderr.

Options:
  --type TYPE            only events of this type ("any" or unset: every type)
  --resource-type TYPE   only events with this resource type
  --resource-id ID       only events with this resource id
  --ksid KSID            only what targets this subscriber (its broadcasts included)
  --handler ID           what the app's event handler ID subscribes to (instead of the filters)
  --resume-after OFFSET  first replay history after OFFSET, then continue live (no gap, no duplicate)
  --json                 one JSON object per line: the event in the proto3 JSON mapping

${connectionUsage()}
${EXIT_CODES_USAGE}
Example:
  herald watch demo --type ringing
`;
}
