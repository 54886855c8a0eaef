import { BlockList, isIP } from "node:net";
import type { Logger } from "../core/logger.js";

/** Loopback: 127.0.0.0/8 and ::1 (with their IPv4-mapped and long IPv6 forms). */
const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/**
 * Whether binding `host` keeps the servers reachable from this machine only. Addresses are
 * checked as written (brackets allowed); of names, only `localhost` counts (RFC 6761): any other
 * name, and the unspecified addresses (0.0.0.0, ::), are not loopback.
 */
export function isLoopback(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, "$1");
  if (h.toLowerCase() === "localhost") return true;
  const family = isIP(h);
  if (family === 0) return false;
  return loopback.check(h, family === 6 ? "ipv6" : "ipv4");
}

/** A start refused by the exposure rule: the entry point prints the message and exits 2 (usage). */
export class ExposureError extends Error {
  override readonly name = "ExposureError";
}

export interface Exposure {
  host: string;
  /** Reachable from this machine only. */
  loopback: boolean;
  /** Unauthenticated beyond this machine, because `--insecure` said so. */
  insecure: boolean;
  /** Access control is on (an admin key is configured): any interface may be bound. */
  authenticated: boolean;
}

/**
 * The one rule of what a start may expose: with access control on (an admin key configured) any
 * interface; without it, loopback only, unless `--insecure` asks for more. Throws ExposureError
 * (before anything is opened) when the start is refused.
 */
export function checkExposure(host: string, insecure: boolean, authenticated = false): Exposure {
  if (authenticated) return { host, loopback: isLoopback(host), insecure: false, authenticated: true };
  if (isLoopback(host)) return { host, loopback: true, insecure: false, authenticated: false };
  if (!insecure) {
    throw new ExposureError(
      `--host ${host} would serve the API unauthenticated beyond this machine: no admin key is configured; ` +
        "set one (HERALD_ADMIN_KEY or --admin-key-file) to turn access control on, " +
        "or pass --insecure (HERALD_INSECURE=1) to serve it open anyway (e.g. behind your own network controls)",
    );
  }
  return { host, loopback: false, insecure: true, authenticated: false };
}

/** Says what the start exposes: info on loopback, a distinct warn line when `--insecure` opens it wider. */
export function logExposure(exposure: Exposure, logger: Logger): void {
  if (exposure.authenticated) {
    logger.info({ insecure: false, host: exposure.host, access: "on" }, "access control on: every call needs a credential");
  } else if (exposure.insecure) {
    logger.warn({ insecure: true, host: exposure.host }, `serving WITHOUT authentication on ${exposure.host} (--insecure)`);
  } else {
    logger.info({ insecure: false, host: exposure.host }, "no credentials configured: serving on loopback only, unauthenticated");
  }
}
