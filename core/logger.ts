import { pino, type Logger as PinoLogger } from "pino";

/** The logger every component takes; the entry point makes it, tests pass a silent one. */
export type Logger = PinoLogger;

/** How log lines are written: JSON lines (for collectors), or pretty coloured lines (for a person). */
export type LogFormat = "auto" | "json" | "pretty";

/**
 * `auto` is pretty on a terminal and JSON anywhere else (a pipe, a file, a container's log driver),
 * so that a person reading `npm start` and a collector reading a deployment both get what they want.
 * Pretty lines are written by pino-pretty in pino's transport thread, off the event loop.
 */
export function createLogger(level: string = "info", format: LogFormat = "json", isTty = Boolean(process.stdout.isTTY)): Logger {
  const pretty = format === "pretty" || (format === "auto" && isTty);
  if (!pretty) return pino({ name: "herald", level });
  return pino(
    { name: "herald", level },
    pino.transport({
      target: "pino-pretty",
      options: { colorize: isTty, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,name", singleLine: true },
    }),
  );
}

export const silentLogger: Logger = pino({ level: "silent" });
