import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./connect.js";

/**
 * The Lua scripts, one `.lua` file each in core/redis/lua (read from the source tree: dist/ holds
 * no copy). A file is named `<name>-<N>.lua` when the script takes N keys, `<name>.lua` when the
 * caller passes any number; its header block names each KEYS and ARGV entry. test/redis-scripts
 * checks every file against its name and loads it into a real Redis.
 */
export const scriptDir = fileURLToPath(new URL("../../../core/redis/lua/", import.meta.url));

export interface ScriptFile {
  /** The file name without the key count and `.lua`: `publish`, `write-status`. */
  name: string;
  /** Keys it takes; undefined: any number, passed by the caller. */
  numberOfKeys: number | undefined;
  /** Its header says `Read-only.`: it may run on a replica. */
  readOnly: boolean;
  lua: string;
  file: string;
}

/** Every script in the folder, by name. */
export function readScripts(dir = scriptDir): Map<string, ScriptFile> {
  const scripts = new Map<string, ScriptFile>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".lua"))) {
    const m = /^([a-z][a-z-]*?)(?:-(\d+))?\.lua$/.exec(file);
    if (!m) throw new Error(`${file}: a script is named <name>-<N>.lua or <name>.lua`);
    const lua = readFileSync(`${dir}${file}`, "utf8");
    const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1] ?? "";
    scripts.set(m[1]!, {
      name: m[1]!,
      numberOfKeys: m[2] === undefined ? undefined : Number(m[2]),
      readOnly: /^\s*Read-only\.\s*$/m.test(header),
      lua,
      file,
    });
  }
  return scripts;
}

let cached: Map<string, ScriptFile> | undefined;

type Arg = string | number | Buffer;

/** A script defined on a connection: `run` answers strings, `runBuffer` binary-safe Buffers. */
export interface Script {
  run<T = unknown>(keys: readonly string[], args: readonly Arg[]): Promise<T>;
  runBuffer<T = unknown>(keys: readonly string[], args: readonly Arg[]): Promise<T>;
  /** Queues the call, answered binary-safe, on a pipeline of the connection it was defined on. */
  queueBuffer(pipeline: ChainableCommander, keys: readonly string[], args: readonly Arg[]): void;
}

/** The ioredis command a script is defined as: one prefix for all, `herald` + its name in camel case. */
export const commandName = (name: string) => `herald${name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`;

/**
 * Defines the named scripts on a connection (ioredis sends EVALSHA, and the script itself when
 * Redis does not know it yet) and returns one runner per name. A wrong number of keys throws.
 */
export function defineScripts<N extends string>(redis: RedisClient, names: readonly N[]): Record<N, Script> {
  cached ??= readScripts();
  const out = {} as Record<N, Script>;
  for (const name of names) {
    const script = cached.get(name);
    if (!script) throw new Error(`no Lua script named ${name} in ${scriptDir}`);
    const command = commandName(name);
    const { numberOfKeys, readOnly, lua } = script;
    redis.defineCommand(command, numberOfKeys === undefined ? { lua, readOnly } : { numberOfKeys, lua, readOnly });
    type Commands = Record<string, (...args: Arg[]) => unknown>;
    const call = (fn: string, keys: readonly string[], args: readonly Arg[], on: Commands = redis as unknown as Commands) => {
      if (numberOfKeys === undefined) return on[fn]!(keys.length, ...keys, ...args);
      if (keys.length !== numberOfKeys) throw new Error(`${script.file} takes ${numberOfKeys} keys, got ${keys.length}`);
      return on[fn]!(...keys, ...args);
    };
    out[name] = {
      run: <T>(keys: readonly string[], args: readonly Arg[]) => call(command, keys, args) as Promise<T>,
      runBuffer: <T>(keys: readonly string[], args: readonly Arg[]) => call(`${command}Buffer`, keys, args) as Promise<T>,
      queueBuffer: (pipeline: ChainableCommander, keys: readonly string[], args: readonly Arg[]) => {
        call(`${command}Buffer`, keys, args, pipeline as unknown as Commands);
      },
    };
  }
  return out;
}
