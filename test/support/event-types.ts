/** Received events (gRPC or XMS) as the tests compare them: their types, in the order received. */
export const eventTypes = (events: Array<{ type: string }>) => events.map((e) => e.type);

/** Received events as `[type, resource id]` pairs, in the order received. */
export const typesAndResources = (events: Array<{ type: string; resourceId?: string | undefined }>) =>
  events.map((e) => [e.type, e.resourceId]);
