import { post, type HttpReply } from "./http.js";

/** Kony's engagement email and sms blocks of an event, one recipient each, as the console's payload carries them (a fresh copy). */
export function konyChannels() {
  return {
    email: {
      recipients: { recipient: [{ emailId: "bob@example.com", id: "42" }] },
      from: { emailId: "noreply@example.com" },
      content: { priorityService: "false", eventNamePairs: { key: [{ name: "Email", content: "bob@example.com" }] } },
    },
    sms: {
      recipients: { recipient: [{ mobile: "+15550100", id: "42" }] },
      content: { mimeType: "text/plain", priorityService: "false" },
    },
  };
}

/** A Kony event (its only name is its event id, "1"), as JSON to `{base}/kpns/service/eventpushmessage`. */
export function postKonyEvent(base: string): Promise<HttpReply> {
  return post(
    `${base}/kpns/service/eventpushmessage`,
    JSON.stringify({
      event: {
        eventid: "1",
        eventNamePairs: { key: [{ name: "lastname", content: "Smith" }] },
        message: { content: { priorityService: "false", mimeType: "text/plain" }, subscribers: { subscriber: [{ ksid: "xxxx" }] } },
      },
    }),
    "application/json",
  );
}
