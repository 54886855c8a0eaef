import { clone, create } from "@bufbuild/protobuf";
import {
  AppSchema,
  EventDefinitionSchema,
  SubscriberSchema,
  type App,
  type EventDefinition,
  type Subscriber,
} from "../gen/herald/v1/registry_pb.js";
import type { SubscriberRef } from "../gen/herald/v1/event_pb.js";
import type { RegistryStore, Resolved, SubscriberInput } from "./registry-store.js";

/** The embedded registry: plain maps in this process; everything handed out is a copy or frozen. */
export class MemoryRegistryStore implements RegistryStore {
  private readonly apps = new Map<string, App>();
  private readonly events = new Map<string, EventDefinition>();
  private readonly subscribers = new Map<string, Subscriber>();
  private ksidSeq = 0;

  // Apps and event definitions are read on every send: they are kept frozen (they have no nested
  // fields) and handed out as they are, where a copy per read was a tenth of a send's allocations.
  async upsertApp(app: App): Promise<App> {
    this.apps.set(app.id, Object.freeze(clone(AppSchema, app)));
    return clone(AppSchema, app);
  }

  async getApp(id: string): Promise<App | undefined> {
    return this.apps.get(id);
  }

  async listApps(): Promise<App[]> {
    return [...this.apps.values()].map((a) => clone(AppSchema, a));
  }

  async deleteApp(id: string): Promise<boolean> {
    if (!this.apps.delete(id)) return false;
    for (const [key, e] of this.events) if (e.appId === id) this.events.delete(key);
    for (const [key, s] of this.subscribers) if (s.appId === id) this.subscribers.delete(key);
    return true;
  }

  async upsertEvent(event: EventDefinition): Promise<EventDefinition> {
    this.events.set(event.id, Object.freeze(clone(EventDefinitionSchema, event)));
    return clone(EventDefinitionSchema, event);
  }

  async getEvent(id: string): Promise<EventDefinition | undefined> {
    return this.events.get(id);
  }

  async listEvents(appId: string): Promise<EventDefinition[]> {
    return [...this.events.values()].filter((e) => e.appId === appId).map((e) => clone(EventDefinitionSchema, e));
  }

  async deleteEvent(id: string): Promise<boolean> {
    return this.events.delete(id);
  }

  async subscribe(input: SubscriberInput): Promise<Subscriber> {
    let sub = [...this.subscribers.values()].find((s) => s.appId === input.appId && s.deviceId === input.deviceId && s.ufid === input.ufid);
    if (sub && input.ksid !== undefined && input.ksid !== sub.ksid) {
      this.subscribers.delete(sub.ksid);
      sub = undefined;
    }
    const ksid = sub?.ksid ?? input.ksid ?? this.nextKsid();
    const next = create(SubscriberSchema, {
      ksid,
      appId: input.appId,
      deviceId: input.deviceId,
      ufid: input.ufid,
      osType: input.osType,
      sid: input.sid ?? sub?.sid ?? "",
      active: true,
    });
    this.subscribers.set(ksid, next);
    return clone(SubscriberSchema, next);
  }

  private nextKsid(): string {
    let ksid: string;
    do ksid = String(++this.ksidSeq);
    while (this.subscribers.has(ksid));
    return ksid;
  }

  async unsubscribe(ksid: string): Promise<boolean> {
    return this.subscribers.delete(ksid);
  }

  async deactivate(ksid: string): Promise<boolean> {
    const s = this.subscribers.get(ksid);
    if (!s) return false;
    this.subscribers.set(ksid, create(SubscriberSchema, { ...s, active: false }));
    return true;
  }

  async getSubscriber(ksid: string): Promise<Subscriber | undefined> {
    const s = this.subscribers.get(ksid);
    return s && clone(SubscriberSchema, s);
  }

  async listSubscribers(appId: string): Promise<Subscriber[]> {
    return [...this.subscribers.values()].filter((s) => s.appId === appId).map((s) => clone(SubscriberSchema, s));
  }

  async resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved> {
    const ksids = new Set<string>();
    const invalid: SubscriberRef[] = [];
    // Device and user lookups scan the app once, only when the request names some.
    let byDevice: Map<string, string[]> | undefined;
    let byUfid: Map<string, string[]> | undefined;
    const index = () => {
      byDevice = new Map();
      byUfid = new Map();
      for (const s of this.subscribers.values()) {
        if (s.appId !== appId || !s.active) continue;
        if (s.deviceId) byDevice.set(s.deviceId, [...(byDevice.get(s.deviceId) ?? []), s.ksid]);
        if (s.ufid) byUfid.set(s.ufid, [...(byUfid.get(s.ufid) ?? []), s.ksid]);
      }
    };
    for (const ref of refs) {
      let found: string[] = [];
      switch (ref.ref.case) {
        case "ksid": {
          const s = this.subscribers.get(ref.ref.value);
          if (s && s.appId === appId && s.active) found = [s.ksid];
          break;
        }
        case "deviceId":
          if (!byDevice) index();
          found = byDevice!.get(ref.ref.value) ?? [];
          break;
        case "ufid":
          if (!byUfid) index();
          found = byUfid!.get(ref.ref.value) ?? [];
          break;
      }
      if (found.length === 0) invalid.push(ref);
      for (const k of found) ksids.add(k);
    }
    return { ksids: [...ksids], invalid };
  }
}
