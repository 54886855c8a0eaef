import { readFile } from "node:fs/promises";
import { ConnectError } from "@connectrpc/connect";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { AppSchema, EventDefinitionSchema, SubscriberSchema } from "../core/gen/herald/v1/registry_pb.js";
import { appToStore } from "../core/auth/legacy-access.js";
import type { RegistryStore } from "../core/store/registry-store.js";
import type { Validator } from "../core/rpc/validate.js";

/** What a seed file holds; field names as in the proto (snake_case or lowerCamelCase). */
interface SeedFile {
  apps?: JsonValue[];
  events?: JsonValue[];
  subscribers?: JsonValue[];
}

export interface SeedCounts {
  apps: number;
  events: number;
  subscribers: number;
}

/**
 * Loads a registry seed (YAML, or JSON which is YAML too) into the store; its ids follow the same
 * rule as the RPCs' (`ids`), since they reach the same keys. Everything is upserted,
 * so loading the same seed again at every start is harmless.
 */
export async function loadSeed(store: RegistryStore, path: string, ids: Validator): Promise<SeedCounts> {
  let seed: SeedFile;
  try {
    seed = (parse(await readFile(path, "utf8")) ?? {}) as SeedFile;
  } catch (err) {
    throw new Error(`seed ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof seed !== "object" || Array.isArray(seed)) throw new Error(`seed ${path}: expected a mapping of apps, events, subscribers`);
  const unknown = Object.keys(seed).filter((k) => !["apps", "events", "subscribers"].includes(k));
  if (unknown.length > 0) throw new Error(`seed ${path}: unknown section(s) ${unknown.join(", ")}`);
  const entries = (key: keyof SeedFile) => {
    const list = seed[key] ?? [];
    if (!Array.isArray(list)) throw new Error(`seed ${path}: "${key}" must be a list`);
    return list.map((entry, i) => ({ entry, where: `seed ${path}: ${key}[${i}]` }));
  };
  const parsed = <T>(where: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      const message = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
      throw new Error(`${where}: ${message}`);
    }
  };

  const counts: SeedCounts = { apps: 0, events: 0, subscribers: 0 };
  for (const { entry, where } of entries("apps")) {
    const app = parsed(where, () => fromJson(AppSchema, entry));
    parsed(where, () => ids.id("id", app.id));
    // As UpsertApp does: a legacy key is kept as its hash, never as written in the file.
    const before = await store.getApp(app.id);
    await store.upsertApp(parsed(where, () => appToStore(app, before)));
    counts.apps++;
  }
  for (const { entry, where } of entries("events")) {
    const event = parsed(where, () => fromJson(EventDefinitionSchema, entry));
    parsed(where, () => [ids.id("id", event.id), ids.id("app_id", event.appId)]);
    if (!(await store.getApp(event.appId))) throw new Error(`${where}: app "${event.appId}" is not defined`);
    await store.upsertEvent(event);
    counts.events++;
  }
  for (const { entry, where } of entries("subscribers")) {
    const s = parsed(where, () => fromJson(SubscriberSchema, entry));
    parsed(where, () => [
      ids.id("app_id", s.appId),
      ids.optionalId("ksid", s.ksid),
      ids.optionalId("device_id", s.deviceId),
      ids.optionalId("ufid", s.ufid),
    ]);
    if (!(await store.getApp(s.appId))) throw new Error(`${where}: app "${s.appId}" is not defined`);
    await store.subscribe({
      appId: s.appId,
      deviceId: s.deviceId,
      ufid: s.ufid,
      osType: s.osType,
      sid: s.sid,
      ...(s.ksid !== "" ? { ksid: s.ksid } : {}),
    });
    counts.subscribers++;
  }
  return counts;
}
