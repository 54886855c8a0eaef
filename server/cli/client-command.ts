import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { UsageError } from "../cli-options.js";
import {
  CliExit,
  cleartextWarning,
  connectionOptions,
  failure,
  openConnection,
  targetOf,
  type CliIo,
  type Connection,
  type FailureHints,
  type Target,
} from "./connection.js";

/** The flags a command was given: parseArgs' values, connection options included. */
export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface CommandContext {
  connection: Connection;
  target: Target;
  io: CliIo;
}

/** What to do once connected; resolves with the exit code (ok when nothing). */
export type Action = (ctx: CommandContext) => Promise<number | undefined>;

/** One `herald <name> …` client command. */
export interface ClientCommand {
  /** As messages name it: `herald <name>: …`. */
  name: string;
  /** Its own options (parseArgs), besides the connection's. */
  options: NonNullable<ParseArgsConfig["options"]>;
  usage(): string;
  hints?: FailureHints;
  /** Takes a verb first (`apps list`): `help` as the verb prints the usage too. */
  verbs?: boolean;
  /** Keeps a stream open (pinged connection, no deadline). */
  watching?: boolean;
  /** Checks the arguments before anything is sent (UsageError: exit 2) and returns what to do. */
  prepare(values: Values, positionals: string[]): Action;
}

/**
 * Runs a client command: flags, then the target and credential, then the call; every failure is
 * a line on stderr in the command's voice and an exit code of `CliExit`.
 */
export async function runClientCommand(
  command: ClientCommand,
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo = process,
): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, ...connectionOptions },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    return usageFailure(io, command.name, err instanceof Error ? err.message : String(err));
  }
  if (values["help"] || (command.verbs && positionals[0] === "help")) {
    io.stdout.write(command.usage());
    return CliExit.ok;
  }
  let target: Target;
  let action: Action;
  try {
    action = command.prepare(values, positionals);
    target = targetOf(values as Record<string, string | undefined>, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageFailure(io, command.name, err.message);
  }
  const connection = openConnection(target, { watching: command.watching ?? false });
  const warning = cleartextWarning(target);
  if (warning) io.stderr.write(`herald ${command.name}: ${warning}\n`);
  try {
    return (await action({ connection, target, io })) ?? CliExit.ok;
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, command.name, err.message);
    const { code, message } = failure(ConnectError.from(err), target, command.hints);
    io.stderr.write(`herald ${command.name}: ${message}\n`);
    return code;
  } finally {
    connection.close();
  }
}

export function usageFailure(io: CliIo, name: string, message: string): number {
  io.stderr.write(`herald ${name}: ${message} (herald ${name} --help)\n`);
  return CliExit.usage;
}

/** UsageError unless every flag given is one of `allowed` (or a connection option). */
export function onlyOptions(values: Values, allowed: readonly string[], what: string): void {
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.includes(name) && !(name in connectionOptions)) {
      throw new UsageError(`--${name} is not an option of "${what}"`);
    }
  }
}

/** The positionals, exactly `names.length` of them; UsageError naming them otherwise. */
export function positionalsOf(positionals: string[], names: readonly string[], what: string): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`${what} takes ${names.join(" ")}: missing ${names.slice(positionals.length).join(" ")}`);
  }
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}"`);
  return positionals;
}

export const str = (values: Values, name: string): string | undefined => values[name] as string | undefined;
export const strs = (values: Values, name: string): string[] => (values[name] as string[] | undefined) ?? [];
export const flag = (values: Values, name: string): boolean => values[name] === true;
