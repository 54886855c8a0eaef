import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import type { ClientService, DeliveryService } from "../gen/herald/v1/eventhos_pb.js";
import type { HubService } from "../gen/herald/v1/hub_pb.js";
import { type RegistryService, Role } from "../gen/herald/v1/registry_pb.js";

/**
 * Who may call a method. Admin (the admin key, or an API key with the admin role) may call every
 * method; the in-process facade may too, having checked its own client's credential first.
 */
export type Rule<I = never, O = never> =
  /** No API credential: the method checks the credential its request carries (or needs none). */
  | { open: string }
  | {
      /** An API key with any of these roles (admin always). */
      roles: readonly Role[];
      /**
       * The app the request names, which the key must be allowed; "" leaves the check to the
       * handler (requireApp), where the app is only known once it has looked something up.
       */
      app?: (req: I) => string;
      /** The app of the reply, checked before it is returned (reads by id). */
      resultApp?: (res: O) => string;
      /** Subscriber tokens may call it: checks and narrows the request to the token's ksid. */
      subscriber?: (req: I, token: { appId: string; ksid: string }) => void;
      /** eventhos clients may call it with their access key; the handler shows them their own records only. */
      client?: true;
    };

type MethodsOf<S extends DescService> = S extends { method: infer M } ? M : never;
/** A rule for every method of the service: a method without one does not compile. */
export type Rules<S extends DescService> = {
  [K in keyof MethodsOf<S>]: MethodsOf<S>[K] extends { input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? Rule<MessageShape<I>, MessageShape<O>>
    : never;
};

const ADMIN = [Role.ADMIN] as const;
const PUBLISH = [Role.PUBLISH] as const;
const WATCH = [Role.WATCH] as const;
const READ = [Role.PUBLISH, Role.WATCH] as const;
const OWN_CREDENTIAL = "checks the credential in its request";

export const hubRules: Rules<typeof HubService> = {
  sendEvent: { roles: PUBLISH, app: (r) => r.appId },
  sendPush: { roles: PUBLISH, app: (r) => r.appId },
  // Each push's app_id is checked by the handler to be empty or this one.
  sendPushBatch: { roles: PUBLISH, app: (r) => r.appId },
  sendEventBatch: { roles: PUBLISH, app: (r) => r.appId },
  watchEvents: {
    roles: WATCH,
    app: (r) => r.appId,
    subscriber: (r, token) => {
      if (r.handlerId !== "" || (r.ksid !== "" && r.ksid !== token.ksid)) throw new SubscriberScopeError();
      r.ksid = token.ksid;
    },
  },
  // The handler shows the messages of the key's apps only.
  getMessageStatus: { roles: PUBLISH, app: () => "" },
};

export const registryRules: Rules<typeof RegistryService> = {
  upsertApp: { roles: ADMIN },
  getApp: { roles: READ, app: (r) => r.id },
  listApps: { roles: ADMIN },
  deleteApp: { roles: ADMIN },
  upsertEvent: { roles: ADMIN },
  getEvent: { roles: READ, resultApp: (r) => r.event?.appId ?? "" },
  listEvents: { roles: READ, app: (r) => r.appId },
  deleteEvent: { roles: ADMIN },
  subscribe: { roles: READ, app: (r) => r.appId },
  // The handler checks the subscriber's app.
  unsubscribe: { roles: READ, app: () => "" },
  getSubscriber: { roles: READ, resultApp: (r) => r.subscriber?.appId ?? "" },
  listSubscribers: { roles: READ, app: (r) => r.appId },
  createEventHandler: { roles: WATCH, app: (r) => r.appId },
  getEventHandler: { roles: WATCH, app: (r) => r.appId },
  listEventHandlers: { roles: WATCH, app: (r) => r.appId },
  updateEventHandler: { roles: WATCH, app: (r) => r.appId },
  deleteEventHandler: { roles: WATCH, app: (r) => r.appId },
  createApiKey: { roles: ADMIN },
  listApiKeys: { roles: ADMIN },
  revokeApiKey: { roles: ADMIN },
  authorizeLegacy: { roles: ADMIN },
  setPushProvider: { roles: ADMIN },
  getPushProviders: { roles: ADMIN },
  clearPushProvider: { roles: ADMIN },
};

export const clientRules: Rules<typeof ClientService> = {
  upsertClient: { roles: ADMIN },
  getClient: { roles: ADMIN },
  listClients: { roles: ADMIN },
  deleteClient: { roles: ADMIN },
  issueToken: { open: "the client id and secret in the request are the credential" },
  createKey: { roles: ADMIN },
  revokeKey: { roles: ADMIN },
  authorize: { open: OWN_CREDENTIAL },
};

export const deliveryRules: Rules<typeof DeliveryService> = {
  upsertAction: { roles: ADMIN },
  getAction: { roles: ADMIN },
  listActions: { roles: ADMIN },
  deleteAction: { roles: ADMIN },
  upsertContract: { roles: ADMIN },
  getContract: { roles: ADMIN },
  listContracts: { roles: ADMIN },
  deleteContract: { roles: ADMIN },
  receiveEvent: { open: OWN_CREDENTIAL },
  listReceivedEvents: { roles: ADMIN, client: true },
  getReceivedEvent: { roles: ADMIN, client: true },
  getExecution: { roles: ADMIN, client: true },
  retryExecution: { roles: ADMIN, client: true },
};

/** Thrown by a `subscriber` narrowing: the token asks for more than its own ksid. */
export class SubscriberScopeError extends Error {}
