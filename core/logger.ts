import { pino, type Logger as PinoLogger } from "pino";

/** The logger every component takes; the entry point makes it, tests pass a silent one. */
export type Logger = PinoLogger;

export function createLogger(level: string = "info"): Logger {
  return pino({ name: "herald", level });
}

export const silentLogger: Logger = pino({ level: "silent" });
