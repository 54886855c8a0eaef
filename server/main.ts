#!/usr/bin/env node
import { createLogger } from "../core/logger.js";
import { parseOptions, usage, UsageError } from "./cli-options.js";
import { runKeysCommand } from "./cli/keys-command.js";
import { runClientCommand } from "./cli/client-command.js";
import { clientCommands } from "./cli/commands.js";

/** The entry point: the only place that reads flags, environment and signals. */
async function main(): Promise<number> {
  // `herald keys …`, `herald watch …`, …: client commands against a running Herald, not a server.
  const name = process.argv[2];
  if (name === "keys") return runKeysCommand(process.argv.slice(3), process.env);
  const command = name !== undefined ? clientCommands[name] : undefined;
  if (command) return runClientCommand(command, process.argv.slice(3), process.env);
  return serve();
}

/** `herald [options]`: the server. Its modules load only here, so that a client command starts in half the time. */
async function serve(): Promise<number> {
  const [{ startHerald }, { startFacadeServer }, { ExposureError }, { AuthConfigError }] = await Promise.all([
    import("./start-herald.js"),
    import("./start-facade.js"),
    import("./exposure.js"),
    import("../core/auth/subscriber-tokens.js"),
  ]);
  let parsed;
  try {
    parsed = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`herald: ${err.message}\n\n${usage()}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return 0;
  }
  const { config } = parsed;
  const logger = createLogger(config.server.logLevel, config.server.logFormat);
  let herald;
  try {
    // --core-url: this process is only the HTTP facade of a core running elsewhere.
    const { coreUrl } = config.server;
    herald = coreUrl
      ? await startFacadeServer({ ...config, server: { ...config.server, coreUrl } }, logger)
      : await startHerald(config, logger);
  } catch (err) {
    // Refused by the exposure rule: a usage error (fix the flags), told plainly, before anything opened.
    if (err instanceof ExposureError || err instanceof AuthConfigError) {
      process.stderr.write(`herald: ${err.message}\n`);
      return 2;
    }
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, "herald could not start");
    return 1;
  }
  // SIGHUP re-reads the TLS files; a bad file is logged and the current certificates stay.
  const started = herald;
  const reload = () => void started.reloadTls();
  process.on("SIGHUP", reload);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info({ signal }, "shutting down");
  // Still caught (a hangup must not kill the drain), but nothing to reload any more.
  process.off("SIGHUP", reload);
  process.on("SIGHUP", () => {});
  // A second signal while draining: stop at once.
  const force = () => process.exit(1);
  process.once("SIGTERM", force);
  process.once("SIGINT", force);
  await herald.close();
  return 0;
}

process.exitCode = await main();
