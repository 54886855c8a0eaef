import { Code } from "@connectrpc/connect";
import type { RegistryStore } from "../store/registry-store.js";
import type { ClientRecord, ClientStore } from "./client-store.js";
import { eventNotFound, heraldError, notFound } from "../rpc/errors.js";
import type { Validator } from "../rpc/validate.js";
import { hashKey, isLongLivedKey, sameHash, type TokenSigner } from "./token-signer.js";

export interface AuthorizerDeps {
  registry: RegistryStore;
  clients: ClientStore;
  signer: TokenSigner;
  validator: Validator;
}

/** Who may send an event: the key's client and the event's app. */
export interface Authorization {
  clientId: string;
  appId: string;
  eventId: string;
}

/** Checks an access key (token or long-lived key) for sending one event; throws why not. */
export type Authorize = (accessKey: string, eventId: string) => Promise<Authorization>;

/** The client an access key stands for, or undefined when it stands for none (for the authorization layer). */
export type ClientOf = (accessKey: string) => Promise<{ clientId: string; appId: string } | undefined>;

export const unauthenticated = (why: string) => heraldError(Code.Unauthenticated, "UNAUTHENTICATED", why);
export const clientNotFound = (id: string) => notFound("CLIENT_NOT_FOUND", "client", id);

/**
 * The one check of an access key, shared by ClientService.Authorize and DeliveryService.ReceiveEvent:
 * UNAUTHENTICATED for a missing, wrong, expired or revoked key (or a token older than the client's
 * secret), NOT_FOUND (CLIENT_NOT_FOUND / EVENT_NOT_FOUND), PERMISSION_DENIED (EVENT_NOT_ALLOWED).
 */
export function createAuthorizer(deps: AuthorizerDeps): { authorize: Authorize; clientOf: ClientOf } {
  const { registry, clients, signer, validator: v } = deps;

  /** The client an access key stands for; the errors say why not. */
  async function clientOf(accessKey: string): Promise<ClientRecord> {
    if (accessKey === "") throw unauthenticated("access key is required");
    if (isLongLivedKey(accessKey)) {
      const hash = hashKey(accessKey);
      const found = await clients.findKey(hash);
      const client = found && (await clients.getClient(found.clientId));
      // A revoked key, or one whose client is gone, is simply no key.
      if (!found || !client || !client.keys.some((k) => k.id === found.keyId && sameHash(k.hash, hash))) {
        throw unauthenticated("unknown or revoked key");
      }
      return client;
    }
    const claims = await signer.verify(accessKey);
    if (!claims) throw unauthenticated("invalid or expired token");
    const client = await clients.getClient(claims.clientId);
    if (!client) throw clientNotFound(claims.clientId);
    if (client.generation !== claims.generation) throw unauthenticated("token issued before the client's secret changed");
    return client;
  }

  const authorize: Authorize = async (accessKey, eventIdIn) => {
    // Tokens are longer than the field limit; bounded all the same.
    if (accessKey.length > 8192) throw unauthenticated("access key too long");
    const eventId = v.id("event_id", eventIdIn);
    const client = await clientOf(accessKey);
    const event = await registry.getEvent(eventId);
    if (!event) throw eventNotFound(eventId);
    const allowed = client.allowedEventIds.length > 0 ? client.allowedEventIds.includes(eventId) : event.appId === client.appId;
    if (!allowed) throw heraldError(Code.PermissionDenied, "EVENT_NOT_ALLOWED", `client "${client.id}" may not send event "${eventId}"`);
    return { clientId: client.id, appId: event.appId, eventId };
  };

  /** An eventhos key or token presented as a bearer credential: its client, if it is one of theirs. */
  const clientOfBearer: ClientOf = async (accessKey) => {
    if (!isLongLivedKey(accessKey) && accessKey.split(".").length !== 3) return undefined;
    try {
      const client = await clientOf(accessKey);
      return { clientId: client.id, appId: client.appId };
    } catch {
      return undefined;
    }
  };
  return { authorize, clientOf: clientOfBearer };
}
