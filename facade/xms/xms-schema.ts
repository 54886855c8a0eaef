/**
 * Values of Dialogic's `xmsrest.xsd`, the schema XMS clients read with (the Java client library
 * binds it with XMLBeans: a value outside an enumeration reads as null). The lists are those of
 * XMS 3.5's schema, which holds the earlier ones.
 */

/** `event_type`, in the schema's order: what an `eventsubscribe` or an `event` may be typed. */
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

/**
 * Types an `eventsubscribe` may name: the schema's, and `cpa`, which the contract document lists
 * (no event of that type is sent: see isXmsEventType).
 */
export const SUBSCRIBE_TYPES: ReadonlySet<string> = new Set([...SCHEMA_EVENT_TYPES, "cpa"]);

/** `event_resource_type`: what an `eventsubscribe` may name as `resource_type`. */
export const RESOURCE_TYPES: ReadonlySet<string> = new Set(["any", "call", "conference", "mrcp"]);

const STREAMED = new Set(SCHEMA_EVENT_TYPES.filter((t) => t !== "any"));

/**
 * Whether an event of this type may be sent to an XMS stream: a type of the schema's `event_type`
 * other than `any` (a subscription's wildcard, never an event's). Anything else an XMS client
 * cannot read.
 */
export function isXmsEventType(type: string): boolean {
  return STREAMED.has(type);
}
