import { newestFirst, type ApiKeyRecord, type ApiKeyStore } from "./api-key-store.js";

/** API keys in this process only (embedded mode). */
export class MemoryApiKeyStore implements ApiKeyStore {
  private readonly keys = new Map<string, Readonly<ApiKeyRecord>>();

  async create(record: ApiKeyRecord): Promise<boolean> {
    if (this.keys.has(record.id)) return false;
    // Frozen through and through: what `get` hands out is shared by every call that checks the key.
    this.keys.set(
      record.id,
      Object.freeze({ ...record, roles: Object.freeze([...record.roles]), appIds: Object.freeze([...record.appIds]) }) as ApiKeyRecord,
    );
    return true;
  }
  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.keys.get(id);
  }
  peek(id: string): ApiKeyRecord | undefined {
    return this.keys.get(id);
  }
  async list(): Promise<ApiKeyRecord[]> {
    return [...this.keys.values()].sort(newestFirst);
  }
  async revoke(id: string): Promise<boolean> {
    return this.keys.delete(id);
  }
}
