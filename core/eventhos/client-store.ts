/**
 * Producer clients of the eventhos facade, their hashed secrets and long-lived keys.
 *
 * Guarantees (test/suites/client-store-suite.ts checks them against every implementation):
 * - Values returned are copies; `keys` of a returned record are its current keys.
 * - `putClient` stores everything but `keys`, which only `addKey` / `revokeKey` change, so an
 *   update never loses a key added meanwhile.
 * - `findKey` finds a key by its hash until it is revoked or its client deleted.
 * - `sharedSecret` returns the first candidate ever given (to any instance on the same backend).
 * - When the backing service is unreachable, calls reject with an `UnavailableError`.
 */
export interface ClientStore {
  putClient(client: ClientRecord): Promise<void>;
  getClient(id: string): Promise<ClientRecord | undefined>;
  listClients(): Promise<ClientRecord[]>;
  deleteClient(id: string): Promise<boolean>;
  /** False when the client does not exist. */
  addKey(clientId: string, key: KeyRecord): Promise<boolean>;
  revokeKey(clientId: string, keyId: string): Promise<boolean>;
  findKey(hash: string): Promise<{ clientId: string; keyId: string } | undefined>;
  sharedSecret(candidate: string): Promise<string>;
  close(): Promise<void>;
}

export interface ClientRecord {
  id: string;
  appId: string;
  name: string;
  allowedEventIds: string[];
  /** scrypt$<salt>$<hash>, base64url (see core/rpc/access-keys.ts). */
  secretHash: string;
  /** Tokens carry it; bumping it (new secret) invalidates the tokens issued before. */
  generation: number;
  keys: KeyRecord[];
}

export interface KeyRecord {
  id: string;
  /** SHA-256 of the key, hex: keys are 256 random bits, so a fast hash is enough. */
  hash: string;
  createdMs: number;
}
