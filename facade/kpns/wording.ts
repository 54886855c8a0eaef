/** The strings that differ between the Kony (/kpns) and Volt MX (/vpns) wordings, byte for byte. */
export interface Wording {
  /** 404 of eventpushmessage. */
  appInvalid: string;
  /** 406 of eventpushmessage. */
  eventInvalid: string;
  /** 404 of the subscription and push routes (not in the documents; same brand wording). */
  appIdInvalid: string;
}

export const KONY: Wording = {
  appInvalid: "Invalid Kony Application ID associated with Event.",
  eventInvalid: "Invalid Kony Event ID. ",
  appIdInvalid: "Invalid Kony Application ID. ",
};

export const VOLT_MX: Wording = {
  appInvalid: "Invalid Volt MX Application ID associated with Event.",
  eventInvalid: "Invalid Volt MX Event ID. ",
  appIdInvalid: "Invalid Volt MX Application ID. ",
};

/** Strings both wordings share, as the documents spell them (note the trailing spaces). */
export const QUEUED = "Request Queued. ";
export const APP_NOT_PUBLISHED = "Associated Application is not Published.";
export const EVENT_NOT_PUBLISHED = "Event is not Published.";
export const SERVER_FAILED = "Server failed to process the request.";
/** The XML document writes it without the trailing space, the JSON one with it. */
export const INVALID_FORMAT = { xml: "Invalid request format.", json: "Invalid request format. " } as const;
/** Not in the documents: a body over the size limit. */
export const TOO_LARGE = "Request body too large. ";
/** Not in the documents: a push request with more than --max-push-messages messages. */
export const TOO_MANY_MESSAGES = "Too many messages in one request. ";
/** Not in the documents: an Idempotency-Key already used by a different request. */
export const IDEMPOTENCY_KEY_REUSED = "Idempotency-Key already used for a different request. ";
