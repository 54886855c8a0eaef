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
}

/**
 * The one rule of what a start may expose: an unauthenticated API is served on loopback only,
 * unless `--insecure` asks for more. Herald has no API credentials yet, so every start is
 * unauthenticated; when API keys arrive, "credentials configured" relaxes the rule here, and only
 * here. Throws ExposureError (before anything is opened) when the start is refused.
 */
export function checkExposure(host: string, insecure: boolean): Exposure {
  if (isLoopback(host)) return { host, loopback: true, insecure: false };
  if (!insecure) {
    throw new ExposureError(
      `--host ${host} would serve the API unauthenticated beyond this machine: Herald has no API keys configured; ` +
        "pass --insecure (HERALD_INSECURE=1) to do it anyway (e.g. behind your own network controls)",
    );
  }
  return { host, loopback: false, insecure: true };
}

/** Says what the start exposes: info on loopback, a distinct warn line when `--insecure` opens it wider. */
export function logExposure(exposure: Exposure, logger: Logger): void {
  if (exposure.insecure) {
    logger.warn({ insecure: true, host: exposure.host }, `serving WITHOUT authentication on ${exposure.host} (--insecure)`);
  } else {
    logger.info({ insecure: false, host: exposure.host }, "no credentials configured: serving on loopback only, unauthenticated");
  }
}
