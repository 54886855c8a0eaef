import type { ClientRecord, ClientStore, KeyRecord } from "./client-store.js";

const copy = (c: ClientRecord): ClientRecord => ({ ...c, allowedEventIds: [...c.allowedEventIds], keys: c.keys.map((k) => ({ ...k })) });

/** Clients in process memory (embedded mode). */
export class MemoryClientStore implements ClientStore {
  private readonly clients = new Map<string, ClientRecord>();
  private readonly keys = new Map<string, { clientId: string; keyId: string }>();
  private secret: string | undefined;

  async putClient(client: ClientRecord): Promise<void> {
    const keys = this.clients.get(client.id)?.keys ?? [];
    this.clients.set(client.id, { ...copy(client), keys });
  }
  async getClient(id: string): Promise<ClientRecord | undefined> {
    const c = this.clients.get(id);
    return c && copy(c);
  }
  async listClients(): Promise<ClientRecord[]> {
    return [...this.clients.values()].sort((a, b) => a.id.localeCompare(b.id)).map(copy);
  }
  async deleteClient(id: string): Promise<boolean> {
    const c = this.clients.get(id);
    if (!c) return false;
    for (const k of c.keys) this.keys.delete(k.hash);
    this.clients.delete(id);
    return true;
  }
  async addKey(clientId: string, key: KeyRecord): Promise<boolean> {
    const c = this.clients.get(clientId);
    if (!c) return false;
    c.keys.push({ ...key });
    this.keys.set(key.hash, { clientId, keyId: key.id });
    return true;
  }
  async revokeKey(clientId: string, keyId: string): Promise<boolean> {
    const c = this.clients.get(clientId);
    const key = c?.keys.find((k) => k.id === keyId);
    if (!c || !key) return false;
    c.keys = c.keys.filter((k) => k !== key);
    this.keys.delete(key.hash);
    return true;
  }
  async findKey(hash: string): Promise<{ clientId: string; keyId: string } | undefined> {
    const found = this.keys.get(hash);
    return found && { ...found };
  }
  async sharedSecret(candidate: string): Promise<string> {
    return (this.secret ??= candidate);
  }
  async close(): Promise<void> {}
}
