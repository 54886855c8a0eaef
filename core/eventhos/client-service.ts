import { Code, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ClientSchema, type ClientService, type Client } from "../gen/herald/v1/eventhos_pb.js";
import type { RegistryStore } from "../store/registry-store.js";
import type { ClientRecord, ClientStore } from "./client-store.js";
import { appNotFound, found, heraldError, invalidArgument } from "../rpc/errors.js";
import { clientNotFound, unauthenticated, type Authorize } from "./authorize.js";
import type { Validator } from "../rpc/validate.js";
import { DECOY_HASH, hashSecret, newKey, verifySecret, type TokenSigner } from "./token-signer.js";
import type { TokenGuard } from "./token-guard.js";

export interface ClientServiceDeps {
  registry: RegistryStore;
  clients: ClientStore;
  signer: TokenSigner;
  validator: Validator;
  /** The access-key check (createAuthorizer), shared with DeliveryService.ReceiveEvent. */
  authorize: Authorize;
  /** Failed attempts per client and concurrent hashing of IssueToken. */
  tokenGuard: TokenGuard;
}

function toClient(r: ClientRecord): Client {
  return create(ClientSchema, {
    id: r.id,
    appId: r.appId,
    name: r.name,
    allowedEventIds: r.allowedEventIds,
    keyIds: r.keys.map((k) => k.id),
  });
}

/** Clients, their tokens and keys, and the check of an access key (eventhos /event/send). */
export function createClientService(deps: ClientServiceDeps): ServiceImpl<typeof ClientService> {
  const { registry, clients, signer, validator: v, authorize, tokenGuard } = deps;

  async function existing(id: string): Promise<ClientRecord> {
    return found(await clients.getClient(v.id("client_id", id)), "CLIENT_NOT_FOUND", "client", id);
  }

  return {
    async upsertClient(req) {
      const c = v.present("client", req.client);
      v.id("client.id", c.id);
      v.id("client.app_id", c.appId);
      v.short("client.name", c.name);
      c.allowedEventIds.forEach((id, i) => v.id(`client.allowed_event_ids[${i}]`, id));
      if (!(await registry.getApp(c.appId))) throw appNotFound(c.appId);
      const old = await clients.getClient(c.id);
      if (!old && req.secret === "") throw invalidArgument("secret is required for a new client");
      if (req.secret.length > 1024) throw invalidArgument("secret is longer than 1024 characters");
      const record: ClientRecord = {
        id: c.id,
        appId: c.appId,
        name: c.name,
        allowedEventIds: [...c.allowedEventIds],
        secretHash: req.secret === "" ? old!.secretHash : await hashSecret(req.secret),
        // A new secret ends the tokens issued with the old one.
        generation: (old?.generation ?? 0) + (req.secret === "" ? 0 : 1),
        keys: old?.keys ?? [],
      };
      await clients.putClient(record);
      return { client: toClient(record) };
    },
    async getClient(req) {
      return { client: toClient(await existing(req.id)) };
    },
    async listClients() {
      return { clients: (await clients.listClients()).map(toClient) };
    },
    async deleteClient(req) {
      if (!(await clients.deleteClient(v.id("id", req.id)))) throw clientNotFound(req.id);
      return {};
    },

    async issueToken(req) {
      v.id("client_id", req.clientId);
      if (req.clientSecret.length > 1024) throw unauthenticated("wrong client secret");
      // Before any work: an id out of failed attempts costs nothing more.
      tokenGuard.reserve(req.clientId);
      let client: ClientRecord | undefined;
      let ok = false;
      let wrong = false; // only a wrong id or secret keeps the reservation: not BUSY, not a store failure
      try {
        client = await clients.getClient(req.clientId);
        // Same cost whether the client exists or not.
        ok = await tokenGuard.hash(() => verifySecret(req.clientSecret, client?.secretHash ?? DECOY_HASH));
        wrong = !client || !ok;
      } finally {
        if (!wrong) tokenGuard.refund(req.clientId);
      }
      if (!client) throw clientNotFound(req.clientId);
      if (!ok) throw unauthenticated("wrong client secret");
      return { accessToken: await signer.sign(client.id, client.generation), expiresIn: signer.ttlSeconds };
    },
    async createKey(req) {
      const client = await existing(req.clientId);
      const key = newKey();
      if (!(await clients.addKey(client.id, { id: key.id, hash: key.hash, createdMs: Date.now() }))) throw clientNotFound(client.id);
      return { keyId: key.id, key: key.key };
    },
    async revokeKey(req) {
      await existing(req.clientId);
      if (!(await clients.revokeKey(req.clientId, v.id("key_id", req.keyId)))) {
        throw heraldError(Code.NotFound, "KEY_NOT_FOUND", `key "${req.keyId}" of client "${req.clientId}" not found`);
      }
      return {};
    },

    async authorize(req) {
      return authorize(req.accessKey, req.eventId);
    },
  };
}
