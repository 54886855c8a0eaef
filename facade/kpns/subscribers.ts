import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SubscriberRefSchema } from "../../core/gen/herald/v1/event_pb.js";
import { FormatError } from "../format-error.js";
import { list, record, text } from "../plain.js";

type RefInit = MessageInitShape<typeof SubscriberRefSchema>;

/**
 * `subscribers.subscriber`: one or a list of {ksid | ufid | deviceId}. When a subscriber carries
 * several names the most precise wins (ksid, then deviceId, then ufid), as in the original.
 */
export function subscriberRefs(subscribers: unknown, where: string): RefInit[] {
  return list(subscribers).map((item, i) => {
    const at = `${where}[${i}]`;
    const s = record(item, at, ["ksid", "ufid", "deviceId"]);
    const ksid = text(s["ksid"], `${at}.ksid`)?.trim();
    if (ksid) return { ref: { case: "ksid", value: ksid } };
    const deviceId = text(s["deviceId"], `${at}.deviceId`)?.trim();
    if (deviceId) return { ref: { case: "deviceId", value: deviceId } };
    const ufid = text(s["ufid"], `${at}.ufid`)?.trim();
    if (ufid) return { ref: { case: "ufid", value: ufid } };
    throw new FormatError(`${at} names nobody (ksid, ufid or deviceId)`);
  });
}
