import type { ClientCommand } from "./client-command.js";
import { pushCommand, sendCommand, statusCommand } from "./hub-commands.js";
import { appsCommand, eventsCommand, handlersCommand, providersCommand, subscribersCommand } from "./registry-commands.js";
import { watchCommand } from "./watch-command.js";

/** `herald <name> …`: the client commands against a running Herald (besides `keys`), by name. */
export const clientCommands: Readonly<Record<string, ClientCommand>> = {
  watch: watchCommand,
  send: sendCommand,
  push: pushCommand,
  status: statusCommand,
  apps: appsCommand,
  events: eventsCommand,
  subscribers: subscribersCommand,
  handlers: handlersCommand,
  providers: providersCommand,
};
