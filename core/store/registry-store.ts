import type { App, EventDefinition, Subscriber } from "../gen/herald/v1/registry_pb.js";
import type { SubscriberRef } from "../gen/herald/v1/event_pb.js";

/**
 * The registry: apps, their events and their subscribers.
 *
 * Guarantees (test/suites/store-suite.ts checks them against every implementation):
 * - Values returned never change the store: they are copies, or (apps and event definitions, read
 *   on every send) frozen, so that writing to one throws.
 * - Event ids are global: `getEvent(id)` finds an event without knowing its app.
 * - `subscribe` is idempotent for the same app + device_id + ufid: it returns the existing
 *   subscriber (updated os_type / sid) with the same ksid. ksids are unique across apps.
 * - `deleteApp` removes the app's events and subscribers too.
 * - `resolve` maps subscriber references of one app to ksids: a ksid must be an active subscriber of
 *   that app, a device_id or ufid must name at least one; the result holds each ksid once, in the
 *   order of the references, and every reference that named nobody, in order.
 * - A change is seen by the next call on any instance that shares the backend (the Redis one keeps
 *   a near cache that Redis key tracking keeps true).
 * - When the backing service is unreachable, calls reject with an `UnavailableError` promptly.
 */
export interface RegistryStore {
  upsertApp(app: App): Promise<App>;
  getApp(id: string): Promise<App | undefined>;
  listApps(): Promise<App[]>;
  deleteApp(id: string): Promise<boolean>;

  /** The event's app must exist (the caller checks). Moving an event to another app is allowed. */
  upsertEvent(event: EventDefinition): Promise<EventDefinition>;
  getEvent(id: string): Promise<EventDefinition | undefined>;
  listEvents(appId: string): Promise<EventDefinition[]>;
  deleteEvent(id: string): Promise<boolean>;

  /** `ksid` in the input is honoured when set (seed files), else one is assigned. */
  subscribe(subscriber: SubscriberInput): Promise<Subscriber>;
  unsubscribe(ksid: string): Promise<boolean>;
  /**
   * Marks a subscriber inactive (its push service called its device token invalid): it stays
   * listed, with `active` false, and is no longer resolved nor pushed to until it subscribes again.
   * False when there is no such subscriber.
   */
  deactivate(ksid: string): Promise<boolean>;
  getSubscriber(ksid: string): Promise<Subscriber | undefined>;
  listSubscribers(appId: string): Promise<Subscriber[]>;
  resolve(appId: string, refs: readonly SubscriberRef[]): Promise<Resolved>;
}

export interface SubscriberInput {
  appId: string;
  deviceId: string;
  ufid: string;
  osType: string;
  sid?: string;
  ksid?: string;
}

export interface Resolved {
  ksids: string[];
  invalid: SubscriberRef[];
}
