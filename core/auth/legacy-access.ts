import { BlockList, isIP } from "node:net";
import { create } from "@bufbuild/protobuf";
import { AppSchema, LegacyAccessSchema, type App } from "../gen/herald/v1/registry_pb.js";
import { invalidArgument } from "../rpc/errors.js";
import { sha256 } from "./api-key-format.js";

/** Most source networks one app may open its legacy routes to. */
export const MAX_NETWORKS = 64;

/**
 * The app as stored, from an UpsertApp request and the app stored before: a new legacy key is
 * kept as its SHA-256 (in `legacy.key`), an empty one keeps the stored hash, `clear_key` drops it;
 * networks are checked CIDRs.
 */
export function appToStore(input: App, before: App | undefined): App {
  const legacy = input.legacy ?? create(LegacyAccessSchema);
  for (const n of legacy.networks) parseNetwork(n);
  if (legacy.networks.length > MAX_NETWORKS) throw invalidArgument(`app.legacy.networks holds at most ${MAX_NETWORKS} networks`);
  if (legacy.key.length > 4096) throw invalidArgument("app.legacy.key is longer than 4096 characters");
  const key = legacy.clearKey ? "" : legacy.key !== "" ? sha256(legacy.key) : (before?.legacy?.key ?? "");
  return create(AppSchema, {
    ...input,
    legacy: create(LegacyAccessSchema, { key, networks: [...legacy.networks], xmsBasic: legacy.xmsBasic }),
  });
}

/** The app as replies show it: never the key's hash, only whether there is one. */
export function publicApp(app: App): App {
  const legacy = app.legacy;
  return create(AppSchema, {
    ...app,
    legacy: create(LegacyAccessSchema, {
      hasKey: (legacy?.key ?? "") !== "",
      networks: [...(legacy?.networks ?? [])],
      xmsBasic: legacy?.xmsBasic ?? false,
    }),
  });
}

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address; INVALID_ARGUMENT otherwise. */
export function parseNetwork(cidr: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [address = "", bits, ...rest] = cidr.trim().split("/");
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
  if (version === 0 || rest.length > 0 || !(prefix >= 0 && prefix <= max)) {
    throw invalidArgument(`"${cidr}" is not a network (CIDR such as 10.0.0.0/8 or 2001:db8::/32)`);
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/**
 * The networks as a BlockList, built once per list: apps come from the store (its copy or its near
 * cache, shared by calls), so a legacy request checks against the list built for its app, not a
 * new one. The text it was built from is kept with it, in case a list were ever changed in place.
 */
const lists = new WeakMap<readonly string[], { text: string; list: BlockList }>();
function blockList(networks: readonly string[]): BlockList {
  const text = networks.join(",");
  const known = lists.get(networks);
  if (known?.text === text) return known.list;
  const list = new BlockList();
  for (const n of networks) {
    const { address, prefix, family } = parseNetwork(n);
    list.addSubnet(address, prefix, family);
  }
  lists.set(networks, { text, list });
  return list;
}

/** Whether `ip` (as a socket reports it; IPv4-mapped IPv6 included) lies in one of `networks`. */
export function inNetworks(ip: string, networks: readonly string[]): boolean {
  if (networks.length === 0 || ip === "") return false;
  const list = blockList(networks);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const addr = mapped ?? ip;
  const family = isIP(addr);
  return family !== 0 && list.check(addr, family === 6 ? "ipv6" : "ipv4");
}
