import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/** Why an address is not a public one. */
export type AddressKind = "unspecified" | "loopback" | "private" | "link-local" | "multicast" | "reserved";

/** [kind, CIDR]; the first match names the kind, so narrower kinds come first. */
const REFUSED: ReadonlyArray<readonly [AddressKind, string]> = [
  ["unspecified", "0.0.0.0/8"],
  ["loopback", "127.0.0.0/8"],
  ["link-local", "169.254.0.0/16"],
  ["private", "10.0.0.0/8"],
  ["private", "100.64.0.0/10"], // carrier-grade NAT
  ["private", "172.16.0.0/12"],
  ["private", "192.168.0.0/16"],
  ["reserved", "198.18.0.0/15"], // benchmarking
  ["reserved", "192.0.0.0/24"], // IETF protocol assignments
  ["reserved", "192.0.2.0/24"], // documentation
  ["reserved", "192.88.99.0/24"], // 6to4 relay anycast
  ["reserved", "198.51.100.0/24"],
  ["reserved", "203.0.113.0/24"],
  ["multicast", "224.0.0.0/4"],
  ["reserved", "240.0.0.0/4"], // includes 255.255.255.255
  ["unspecified", "::/128"],
  ["loopback", "::1/128"],
  ["reserved", "::/96"], // IPv4-compatible (deprecated)
  ["reserved", "64:ff9b:1::/48"], // local-use NAT64
  ["reserved", "100::/64"], // discard
  ["reserved", "2001::/23"], // IETF protocol assignments, Teredo
  ["reserved", "2001:db8::/32"], // documentation
  ["reserved", "3fff::/20"], // documentation
  ["private", "fc00::/7"], // unique local
  ["link-local", "fe80::/10"],
  ["private", "fec0::/10"], // site-local (deprecated)
  ["multicast", "ff00::/8"],
];

const refused = REFUSED.map(([kind, cidr]) => [kind, blockList([cidr])] as const);

function blockList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split("/") as [string, string];
    const family = isIP(address) === 4 ? "ipv4" : "ipv6";
    list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, a dotted IPv4 tail allowed). */
function groups(address: string): number[] {
  let s = address.replace(/%.*$/, "");
  const tail: number[] = [];
  if (s.includes(".")) {
    const cut = s.lastIndexOf(":");
    const [a, b, c, d] = s
      .slice(cut + 1)
      .split(".")
      .map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    s = s.endsWith("::", cut + 1) ? s.slice(0, cut + 1) : s.slice(0, cut);
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const gap = s.indexOf("::");
  const head = parse(gap < 0 ? s : s.slice(0, gap));
  const rest = gap < 0 ? [] : parse(s.slice(gap + 2));
  return [...head, ...new Array<number>(8 - tail.length - head.length - rest.length).fill(0), ...rest, ...tail];
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * The IPv4 address an IPv6 one carries to an IPv4 host: mapped (::ffff:a.b.c.d), SIIT
 * (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
 */
export function embeddedIPv4(address: string): string | undefined {
  const g = groups(address);
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!);
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return undefined;
}

/** Why `address` (an IP literal, no brackets) is not a public address; undefined when it is. */
export function addressKind(address: string): AddressKind | undefined {
  const family = isIP(address.replace(/%.*$/, ""));
  if (family === 0) throw new Error(`not an IP address: ${address}`);
  if (family === 6) {
    const inner = embeddedIPv4(address);
    if (inner !== undefined) return addressKind(inner);
  }
  const type = family === 4 ? "ipv4" : "ipv6";
  const plain = address.replace(/%.*$/, "");
  for (const [kind, list] of refused) if (list.check(plain, type)) return kind;
  return undefined;
}

/** A refused outbound call; its message is what the execution log shows. */
export class OutboundRefusedError extends Error {
  override readonly name = "OutboundRefusedError";
  readonly code = "ERR_HERALD_OUTBOUND_REFUSED";
}

const article = (kind: AddressKind) => (kind === "unspecified" ? "an" : "a");

/** Host names compare lower-case, without the root's trailing dot. */
const normalName = (name: string) => name.toLowerCase().replace(/\.$/, "");

export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * Decides which addresses contract calls may connect to: public ones, and those the operator
 * allows (`--delivery-allow-hosts`: host names, IP addresses, CIDR ranges, comma-separated).
 * `lookup` resolves a name and keeps only the allowed addresses, so the check is made on the very
 * addresses connected to (no window for DNS rebinding).
 */
export class OutboundGuard {
  private readonly names = new Set<string>();
  private readonly allowed = new BlockList();

  constructor(
    allowHosts: string,
    private readonly resolve: Resolver = dnsLookup,
    /** The flag that sets `allowHosts`, named in errors and refusals (push has its own). */
    private readonly flag = "--delivery-allow-hosts",
  ) {
    for (const raw of allowHosts.split(",")) {
      const entry = raw.trim().replace(/^\[(.*)\]$/, "$1");
      if (entry === "") continue;
      const slash = entry.indexOf("/");
      const address = slash < 0 ? entry : entry.slice(0, slash);
      const family = isIP(address);
      if (family !== 0) {
        const type = family === 4 ? "ipv4" : "ipv6";
        const bits = slash < 0 ? (family === 4 ? 32 : 128) : Number(entry.slice(slash + 1));
        if (!/^\d+$/.test(slash < 0 ? "0" : entry.slice(slash + 1)) || bits > (family === 4 ? 32 : 128)) {
          throw new Error(`${flag}: bad range "${entry}"`);
        }
        this.allowed.addSubnet(address, bits, type);
      } else if (slash < 0 && /^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_.])?$/i.test(entry)) {
        this.names.add(normalName(entry));
      } else {
        throw new Error(`${flag}: "${entry}" is neither a host name, an IP address nor a CIDR range`);
      }
    }
  }

  private allows(address: string): boolean {
    const plain = address.replace(/%.*$/, "");
    if (isIP(plain) === 4) return this.allowed.check(plain, "ipv4");
    const inner = embeddedIPv4(plain);
    return this.allowed.check(plain, "ipv6") || (inner !== undefined && this.allowed.check(inner, "ipv4"));
  }

  /** Why connecting to `address` for URL host `host` is refused; undefined when it may go ahead. */
  refusal(host: string, address: string): string | undefined {
    if (this.names.has(normalName(host)) || this.allows(address)) return undefined;
    const kind = addressKind(address);
    if (kind === undefined) return undefined;
    const what = `${article(kind)} ${kind} address`;
    const plainHost = host.replace(/^\[(.*)\]$/, "$1");
    return plainHost === address
      ? `refused: ${address} is ${what}; allow it with ${this.flag}`
      : `refused: ${host} resolves to ${address}, ${what}; allow it with ${this.flag}`;
  }

  /** For `net.connect`: resolves, then hands on only allowed addresses, or fails with the refusal. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const kept = addresses.filter((a) => this.refusal(hostname, a.address) === undefined);
      if (kept.length === 0) {
        const first = addresses[0];
        const message = first ? this.refusal(hostname, first.address)! : `refused: ${hostname} resolves to no address`;
        return callback(new OutboundRefusedError(message), "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, kept);
      return callback(null, kept[0]!.address, kept[0]!.family);
    });
  };
}
